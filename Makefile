# Two entry points on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and install torch/torchvision first,
# so pip does not pick an arbitrary (multi-GB CUDA) build through a dependency.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
DEMO_ROOT ?= data
DEMO_RESULTS ?= results
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torchcodec (dev extra) decodes with FFmpeg's shared libraries, which pip cannot install: apt-get them when missing.
$(STAMP): $(BIN)/python pyproject.toml
	@command -v ffmpeg >/dev/null || { [ "$$(id -u)" = 0 ] && sudo= || sudo="sudo -n"; \
	  { $$sudo apt-get update -qq && $$sudo apt-get install -y --no-install-recommends ffmpeg; } \
	  || echo "note: no FFmpeg and apt-get could not install it; the torchcodec tests will skip" \
	    "(install FFmpeg 4 to 9: conda install ffmpeg, brew install ffmpeg)"; }
	$(BIN)/pip install $(TORCH_SPEC)
	$(BIN)/pip install -e '.[dev,dist]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The whole study on the synthetic demo preset: data, every method, the three tables and the figures.
demo: $(STAMP)
	@date +"%T demo: synth"
	$(BIN)/ufsn-data synth --root $(DEMO_ROOT) --preset demo --workers 2
	@date +"%T demo: data steps (extract, tvl1, shards, splits)"
	$(BIN)/ufsn-data all --root $(DEMO_ROOT) --dataset synthetic --workers 2
	@date +"%T demo: study (train every method, tables, figures)"
	$(BIN)/ufsn-bench all --root $(DEMO_ROOT) --dataset synthetic --splits 1 --results $(DEMO_RESULTS) --no-progress
	@date +"%T demo: done; tables in $(DEMO_RESULTS)/synthetic/"

clean-venv:
	rm -rf $(VENV)
