"""Each method as data: the input of its run's model, the model builder, and where its flow comes from.

Runs: ``rgb-split<k>`` (the spatial stream, trained once and shared by every two-stream method),
``tvl1-``, ``gtflow-``, ``supflow-``, ``ufsn-``, ``ufsn-nms-``, ``ufsn-nocv-nms-split<k>`` (a temporal
stream, late-fused with the spatial stream's saved scores), and the stage-1 runs they embed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ufsn.choices import check_choices
from ufsn.errors import ConfigError
from ufsn.tsn.sampling import Modality

if TYPE_CHECKING:
    from torch import nn

    from bench.experiment import ExperimentConfig


def spatial_stream(config: ExperimentConfig, classes: int, estimator=None):
    """The RGB stream (TSNStream); ``estimator`` is unused (every builder takes one)."""
    from ufsn.tsn.streams import TSNStream

    return TSNStream(replace(config.spatial, num_classes=classes, in_channels=3))


def temporal_classifier(config: ExperimentConfig, classes: int, estimator=None):
    """The ResNet over 2L stacked flow channels (cross-modality initialised); ``estimator`` is unused."""
    from ufsn.tsn.streams import TSNStream

    return TSNStream(replace(config.temporal, num_classes=classes, in_channels=2 * config.input.flow_pairs))


def embedded_stream(config: ExperimentConfig, classes: int, estimator):
    """UF-TSN temporal stream: ``estimator`` (FlowNet or RAFT) -> TV-L1 code -> temporal classifier."""
    from ufsn.tsn.embedded import EmbeddedFlowStream

    return EmbeddedFlowStream(estimator, temporal_classifier(config, classes))


Stream = Literal["spatial", "temporal"]  # RGB alone | late-fused with the shared spatial run's scores
FlowSource = Literal["", "tvl1", "gtflow", "supervised", "unsupervised"]  # "" for RGB; gtflow: exact flow, TV-L1 code


@dataclass(frozen=True)
class MethodSpec:
    """What a method's run trains, on which input, with which model."""

    stream: Stream
    modality: Modality  # the run's model input
    build: Callable[..., nn.Module]  # (config, classes, flow estimator or None) -> the run's model
    reads: tuple[str, ...]  # what the run reads from the dataset besides the spatial run: rgb, flow (TV-L1), flow_gt
    flow_source: FlowSource = ""  # where the temporal stream's flow comes from
    flow_variant: str = ""  # stage-1 variant whose estimator the stream embeds (run flow-<variant>-split<k>)
    end_to_end: bool = False  # stage 3 after stage 2: estimator and classifier fine-tuned together
    flow_run: str = ""  # the run whose flow EPE the ablation table shows (stage 1's, or flow-tvl1: TV-L1's)

    def __post_init__(self) -> None:
        check_choices(self)

    @property
    def embeds_estimator(self) -> bool:
        return self.modality == "rgbpair"

    @property
    def exact_flow(self) -> bool:
        """The stream reads the dataset's ground-truth flow (synthetic only) instead of TV-L1's."""
        return self.flow_source == "gtflow"


def _uf(variant: str) -> MethodSpec:
    return MethodSpec("temporal", "rgbpair", embedded_stream, ("rgb",), "unsupervised", variant, end_to_end=True,
                      flow_run=f"flow-{variant}")  # fmt: skip


METHODS = {
    "rgb": MethodSpec("spatial", "rgb", spatial_stream, ("rgb",)),
    "tvl1": MethodSpec("temporal", "flow", temporal_classifier, ("flow",), "tvl1", flow_run="flow-tvl1"),
    # Exact ground-truth flow in the TV-L1 code (synthetic only): the ceiling of every flow source
    # under the same classifier and budget; a diagnostic, not one of the paper's rows.
    "gtflow": MethodSpec("temporal", "flow", temporal_classifier, ("rgb", "flow_gt"), "gtflow"),
    # RAFT-small on real data; on the synthetic set the oracle (stage-1 network trained on ground truth).
    "supflow": MethodSpec(
        "temporal", "rgbpair", embedded_stream, ("rgb",), "supervised", "oracle", flow_run="flow-oracle"
    ),  # fmt: skip
    "ufsn": _uf("full"),
    "ufsn-nms": _uf("nms"),
    "ufsn-nocv-nms": _uf("nocv-nms"),
}


def method_spec(method: str) -> MethodSpec:
    """The spec of ``method``; the error lists the valid names."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    return METHODS[method]


def supervised_source(config: ExperimentConfig, dataset: str) -> str:
    """``raft_small`` or ``oracle`` (the UF network trained on ground truth: synthetic only)."""
    choice = config.ufsn.supervised_flow
    if choice == "auto":
        return "oracle" if dataset == "synthetic" else "raft_small"
    return choice


def load_flow_estimator(run_folder: Path, device):
    """The FlowNet of a stage-1 run (its checkpoint)."""
    from ufsn.checkpoint import CHECKPOINT
    from ufsn.flow.train import load_estimator

    return load_estimator(Path(run_folder) / CHECKPOINT, device)
