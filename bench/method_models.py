"""Models of each method, built from an experiment config (and rebuilt from a run's checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bench.experiment import ExperimentConfig


@dataclass(frozen=True)
class MethodSpec:
    """What a method trains: the temporal stream's flow source and, for UF methods, the stage-1 variant."""

    temporal: str | None  # None (RGB only) | tvl1 | gtflow | supervised | embedded
    flow_variant: str = ""  # stage-1 run flow-<variant>-split<k> (embedded methods)


METHODS = {
    "rgb": MethodSpec(temporal=None),
    "tvl1": MethodSpec(temporal="tvl1"),
    # Exact ground-truth flow in the TV-L1 code (synthetic only): the ceiling of every flow source
    # under the same classifier and budget; a diagnostic, not one of the paper's rows.
    "gtflow": MethodSpec(temporal="gtflow"),
    "supflow": MethodSpec(temporal="supervised"),
    "ufsn": MethodSpec(temporal="embedded", flow_variant="full"),
    "ufsn-nms": MethodSpec(temporal="embedded", flow_variant="nms"),
    "ufsn-nocv-nms": MethodSpec(temporal="embedded", flow_variant="nocv-nms"),
}


def method_spec(method: str) -> MethodSpec:
    """The spec of ``method``; the error lists the valid names."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    return METHODS[method]


def supervised_source(config: ExperimentConfig, dataset: str) -> str:
    """``raft_small`` or ``oracle`` (the UF network trained on ground truth: synthetic only)."""
    choice = config.ufsn.supervised_flow
    if choice == "auto":
        return "oracle" if dataset == "synthetic" else "raft_small"
    if choice not in ("raft_small", "oracle"):
        raise ValueError(f"ufsn.supervised_flow must be auto, raft_small or oracle, got {choice!r}")
    return choice


def spatial_stream(config: ExperimentConfig, classes: int):
    """The RGB stream (TSNStream)."""
    from ufsn.tsn import TSNStream

    return TSNStream(replace(config.spatial, num_classes=classes, in_channels=3))


def temporal_classifier(config: ExperimentConfig, classes: int):
    """The ResNet over 2L stacked flow channels (cross-modality initialised)."""
    from ufsn.tsn import TSNStream

    return TSNStream(replace(config.temporal, num_classes=classes, in_channels=2 * config.input.flow_pairs))


def embedded_stream(config: ExperimentConfig, classes: int, estimator):
    """UF-TSN temporal stream: ``estimator`` (FlowNet or RAFT) -> TV-L1 code -> temporal classifier."""
    from ufsn.uf_stream import EmbeddedFlowStream

    return EmbeddedFlowStream(estimator, temporal_classifier(config, classes))


def load_flow_estimator(run_folder: Path, device):
    """The FlowNet of a stage-1 run (``checkpoint.pt``)."""
    from ufsn.checkpoint import CHECKPOINT
    from ufsn.flow_train import load_estimator

    return load_estimator(Path(run_folder) / CHECKPOINT, device)
