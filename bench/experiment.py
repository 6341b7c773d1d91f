"""Experiment configs (TOML): one file per dataset under bench/configs/, resolved into frozen dataclasses.

A config has sections ``[input]``, ``[spatial.model]``, ``[spatial.optim]``, ``[temporal.model]``,
``[temporal.optim]``, ``[ufsn]``, ``[ufsn.stage2]``, ``[ufsn.stage3]`` and top-level keys; every key
is a field of the dataclass it fills, so a typo is an error naming the key and the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from ufsn.choices import check_choices
from ufsn.config_loader import apply_override, build, read_toml
from ufsn.errors import ConfigError, MissingInputError
from ufsn.tsn.streams import StreamConfig
from ufsn.tsn.train import OptimConfig

TestCrops = Literal["center", "ten"]
TEST_CROPS: dict[str, int] = {"center": 1, "ten": 10}  # crops per snippet (ufsn.tsn.data.ClipConfig.test_crops)


@dataclass(frozen=True)
class InputConfig:
    """Sampling and crops (TSN)."""

    segments: int = 3  # K segments per video in training
    flow_pairs: int = 5  # L stacked flow pairs (2L channels); rgbpair snippets hold L+1 frames
    crop: int = 224  # square crop fed to the networks, px
    test_snippets: int = 25  # CoViAR / DMC-Net protocol: 25 uniformly spaced snippets
    test_crops: TestCrops = "center"  # center crop, or ten (4 corners + centre, each flipped)
    source: Literal["auto", "shards", "frames"] = "auto"  # auto: shards when built, else frame folders
    workers: int = 2  # DataLoader workers
    max_iters: int = 0  # > 0: stop each epoch after this many batches (smoke tests only)

    def __post_init__(self) -> None:
        check_choices(self)


@dataclass(frozen=True)
class UFConfig:
    """UF-TSN stages 2 and 3 and the flow sources."""

    flow_config: str = "flow_synthetic.toml"  # stage-1 (train-flow) config, name in bench/configs or a path
    stage2: OptimConfig = OptimConfig()  # temporal classifier on the frozen estimator's flow
    stage3: OptimConfig = OptimConfig(epochs=1)  # end-to-end fine-tuning
    stage3_max_iters: int = 0  # > 0: batches per stage-3 epoch (a fine-tuning budget; 0 = whole epochs)
    unsup_weight: float = 0.1  # lambda: classification loss + lambda x unsupervised flow loss in stage 3
    init_from_tvl1: bool = True  # start stage 2 from the tvl1 temporal classifier when that run exists
    supervised_flow: Literal["auto", "raft_small", "oracle"] = "auto"  # supflow's network (auto: oracle on synthetic)
    flow_weights: str = ""  # RAFT-small weights path ("" = torchvision cache)

    def __post_init__(self) -> None:
        check_choices(self)


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything ``ufsn-bench train`` needs besides the method name."""

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
            raise ConfigError(f"subsets must be among {', '.join(subsets)}: train_subsets={list(self.train_subsets)}, "
                             f"test_subset={self.test_subset!r}")  # fmt: skip
        if self.test_subset in self.train_subsets:
            raise ConfigError(f"test_subset {self.test_subset!r} is also trained on (train_subsets)")


# Set by the method and the split, never by a config: 3 input channels for RGB, 2 x input.flow_pairs for flow.
DERIVED_STREAM_KEYS = ("in_channels", "num_classes")


def _stream_tables(raw: dict, file: str) -> dict:
    """Build the file's ``[spatial.model]`` / ``[spatial.optim]`` (and temporal) tables into the flat fields."""
    data = dict(raw)
    for stream in ("spatial", "temporal"):
        tables = data.pop(stream, {})
        stray = sorted(set(tables) - {"model", "optim"})
        if stray:  # e.g. --set temporal.stem=... instead of temporal.model.stem=...
            raise ConfigError(f"{file}: [{stream}] has only [{stream}.model] and [{stream}.optim] tables; "
                              f"found {', '.join(f'{stream}.{k}' for k in stray)}")  # fmt: skip
        model = tables.get("model", {})
        for key in DERIVED_STREAM_KEYS:
            if key in model:
                raise ConfigError(f"{file}: [{stream}.model] key {key!r} is not a config value: the method sets "
                                  "in_channels (3 for RGB, 2 x input.flow_pairs for flow), the split "
                                  "num_classes")  # fmt: skip
        if "model" in tables:
            data[stream] = build(StreamConfig, model, file=file, section=f"{stream}.model")
        if "optim" in tables:
            data[f"{stream}_optim"] = build(OptimConfig, tables["optim"], file=file, section=f"{stream}.optim")
    return data


def config_path(name_or_path: str) -> Path:
    """A path as given, or ``bench/configs/<name>`` (``.toml`` optional) from the installed package."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return path
    name = path.name if path.suffix == ".toml" else f"{path.name}.toml"
    packaged = resources.files("bench") / "configs" / name
    if not packaged.is_file():
        raise MissingInputError(f"config {name_or_path!r} is neither a file nor one of bench/configs/*.toml")
    return Path(str(packaged))


def load_experiment(name_or_path: str, overrides: tuple[str, ...] = ()) -> ExperimentConfig:
    """Read a TOML experiment config and apply ``--set`` overrides; errors name the file, section and key."""
    path = config_path(name_or_path)
    raw = read_toml(path)
    for item in overrides:
        apply_override(raw, item)
    return build(ExperimentConfig, _stream_tables(raw, str(path)), file=str(path))


def experiment_from_dict(data: dict) -> ExperimentConfig:
    """Inverse of :func:`to_dict` (e.g. the ``experiment`` entry of a run record)."""
    return build(ExperimentConfig, data, file="run record", section="experiment")


def with_split(config: ExperimentConfig, split: int | None) -> ExperimentConfig:
    """``config`` for another split (None keeps it)."""
    return config if split is None else replace(config, split=split)


def to_dict(config: Any) -> dict:
    """JSON-ready dict of a (nested) config dataclass: tuples become lists."""
    return dataclasses.asdict(config)
