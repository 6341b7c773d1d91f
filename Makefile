# Two entry points on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and install torch/torchvision first,
# so pip does not pick an arbitrary (multi-GB CUDA) build through a dependency.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
DEMO_ROOT ?= data
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install $(TORCH_SPEC)
	$(BIN)/pip install -e '.[dev,dist]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/ufsn-data synth --root $(DEMO_ROOT) --preset demo --workers 2

clean-venv:
	rm -rf $(VENV)
