"""Experiment configs (TOML): one file per dataset under bench/configs/, resolved into frozen dataclasses.

A config has sections ``[input]``, ``[spatial.model]``, ``[spatial.optim]``, ``[temporal.model]``,
``[temporal.optim]``, ``[ufsn]``, ``[ufsn.stage2]``, ``[ufsn.stage3]`` and top-level keys; every key
is a field of the dataclass it fills, so a typo is an error naming the key and the file.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ufsn.train import OptimConfig
from ufsn.tsn import StreamConfig


@dataclass(frozen=True)
class InputConfig:
    """Sampling and crops (TSN)."""

    segments: int = 3  # K segments per video in training
    flow_pairs: int = 5  # L stacked flow pairs (2L channels); rgbpair snippets hold L+1 frames
    crop: int = 224  # square crop fed to the networks, px
    test_snippets: int = 25  # CoViAR / DMC-Net protocol: 25 uniformly spaced snippets
    test_crops: str = "center"  # center | ten (10-crop)
    source: str = "auto"  # shards when built, else frame folders
    workers: int = 2  # DataLoader workers
    max_iters: int = 0  # > 0: stop each epoch after this many batches (smoke tests only)


@dataclass(frozen=True)
class UFConfig:
    """UF-TSN stages 2 and 3 and the flow sources."""

    flow_config: str = "flow_synthetic.toml"  # stage-1 (train-flow) config, name in bench/configs or a path
    stage2: OptimConfig = OptimConfig()  # temporal classifier on the frozen estimator's flow
    stage3: OptimConfig = OptimConfig(epochs=1)  # end-to-end fine-tuning
    stage3_max_iters: int = 0  # > 0: batches per stage-3 epoch (a fine-tuning budget; 0 = whole epochs)
    unsup_weight: float = 0.1  # lambda: classification loss + lambda x unsupervised flow loss in stage 3
    init_from_tvl1: bool = True  # start stage 2 from the tvl1 temporal classifier when that run exists
    supervised_flow: str = "auto"  # supflow's network: raft_small | oracle | auto (oracle on synthetic)
    flow_weights: str = ""  # RAFT-small weights path ("" = torchvision cache)


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything ``ufsn-bench train`` needs besides the method name."""

    dataset: str = "synthetic"
    split: int = 1
    train_subsets: tuple[str, ...] = ("train", "val")  # paper protocol: train + val, report test
    test_subset: str = "test"  # what the test protocol scores: "val" (with train_subsets = ["train"]) to choose configs
    fusion_weight: float = 1.5  # temporal weight of late fusion (TSN: RGB 1, flow 1.5)
    seed: int = 0
    input: InputConfig = InputConfig()
    spatial: StreamConfig = StreamConfig()
    spatial_optim: OptimConfig = OptimConfig()
    temporal: StreamConfig = StreamConfig(in_channels=10, dropout=0.7)
    temporal_optim: OptimConfig = OptimConfig(lr=0.005)
    ufsn: UFConfig = field(default_factory=UFConfig)

    def __post_init__(self):
        subsets = ("train", "val", "test")
        if self.test_subset not in subsets or not set(self.train_subsets) <= set(subsets):
            raise ValueError(f"subsets must be among {', '.join(subsets)}: train_subsets={list(self.train_subsets)}, "
                             f"test_subset={self.test_subset!r}")  # fmt: skip
        if self.test_subset in self.train_subsets:
            raise ValueError(f"test_subset {self.test_subset!r} is also trained on (train_subsets)")


def _build(cls, values: dict, where: str):
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(known)}")
    out = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            out[name] = _build(type(default), value, f"{where}.{name}")
        elif isinstance(default, tuple) and isinstance(value, list):
            out[name] = tuple(value)
        else:
            out[name] = value
    return cls(**out)


def _nest(raw: dict, where: str) -> dict:
    """Map the file's ``[spatial.model]``/``[spatial.optim]`` sections onto the flat dataclass fields."""
    data = dict(raw)
    for stream in ("spatial", "temporal"):
        section = data.pop(stream, {})
        stray = sorted(set(section) - {"model", "optim"})
        if stray:  # e.g. --set temporal.stem=... instead of temporal.model.stem=...
            raise ValueError(f"{where}: [{stream}] has only [{stream}.model] and [{stream}.optim] tables; "
                             f"found {', '.join(f'{stream}.{k}' for k in stray)}")  # fmt: skip
        if "model" in section:
            data[stream] = section["model"]
        if "optim" in section:
            data[f"{stream}_optim"] = section["optim"]
    return data


def config_path(name_or_path: str) -> Path:
    """A path as given, or ``bench/configs/<name>`` (``.toml`` optional) from the installed package."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return path
    name = path.name if path.suffix == ".toml" else f"{path.name}.toml"
    packaged = resources.files("bench") / "configs" / name
    if not packaged.is_file():
        raise FileNotFoundError(f"config {name_or_path!r} is neither a file nor one of bench/configs/*.toml")
    return Path(str(packaged))


def set_override(data: dict, dotted: str) -> dict:
    """Apply ``section.key=value`` (value parsed as TOML, bare words as strings) to nested ``data``."""
    key, sep, text = dotted.partition("=")
    if not sep:
        raise ValueError(f"override {dotted!r} must look like section.key=value")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    node = data
    *parents, leaf = key.strip().split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return data


def load_experiment(name_or_path: str, overrides: tuple[str, ...] = ()) -> ExperimentConfig:
    """Read a TOML experiment config and apply ``--set`` overrides; errors name the file and key."""
    path = config_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    for item in overrides:
        set_override(raw, item)
    return _build(ExperimentConfig, _nest(raw, str(path)), str(path))


def experiment_from_dict(data: dict) -> ExperimentConfig:
    """Inverse of :func:`to_dict` (e.g. the ``experiment`` entry of a run record)."""
    return _build(ExperimentConfig, data, "record config")


def with_split(config: ExperimentConfig, split: int | None) -> ExperimentConfig:
    """``config`` for another split (None keeps it)."""
    return config if split is None else replace(config, split=split)


def to_dict(config: Any) -> dict:
    """JSON-ready dict of a (nested) config dataclass: tuples become lists."""
    return dataclasses.asdict(config)
