"""UF-TSN's temporal stream after stage 1, as one library call: stage 2, then stage 3.

Stage 1 is :func:`ufsn.flow.train.train_flow`; its estimator, embedded in an EmbeddedFlowStream, is the
input here. Stage 2 trains the temporal classifier on the frozen estimator's flow, computed once per
training video into a cache in the TV-L1 layout (under torchrun each rank computes its share of the
videos); stage 3 fine-tunes estimator and classifier together with the classification loss plus
``unsup_weight`` x the unsupervised loss that stage 1 ended with. Every input is explicit: the model,
the RGB reader and videos, the schedules, the process context and where checkpoints go.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ufsn.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from ufsn.distributed import DistContext, barrier, on_main
from ufsn.flow.losses import LossConfig
from ufsn.tsn.data import ClipConfig, ClipDataset
from ufsn.tsn.embedded import EmbeddedFlowStream
from ufsn.tsn.stages import end_to_end_step, estimator_grad_norm, train_stream
from ufsn.tsn.train import OptimConfig

STAGE2_CHECKPOINT = "checkpoint-stage2.pt"
FLOW_CACHE = "flow_cache"


@dataclass(frozen=True)
class UFTSNConfig:
    """Stages 2 and 3 of UF-TSN."""

    stage2: OptimConfig  # the temporal classifier on the frozen estimator's flow
    stage3: OptimConfig | None  # end-to-end fine-tuning; None ends after stage 2 (a frozen estimator: supflow)
    clip: ClipConfig  # training clips of the embedded stream (modality rgbpair, mode train)
    unsup_weight: float = 0.1  # lambda of the unsupervised term in stage 3
    loss: LossConfig = LossConfig()  # stage 3's unsupervised term: the loss stage 1 ended with
    workers: int = 2  # DataLoader processes per rank
    max_iters: int = 0  # batches per epoch of stage 2 (0: all)
    stage3_max_iters: int = 0  # batches per epoch of stage 3 (0: all)

    def __post_init__(self) -> None:
        if self.clip.modality != "rgbpair" or self.clip.mode != "train":
            raise ValueError(f"UF-TSN trains on rgbpair train clips, got {self.clip.modality} {self.clip.mode}")


def train_uf_tsn(model: EmbeddedFlowStream, reader, videos: Sequence[tuple[str, int]], config: UFTSNConfig,
                 ctx: DistContext, *, folder: Path, meta: dict, resume: bool,
                 progress: bool = True) -> None:  # fmt: skip
    """Stages 2 and 3 of ``model`` on ``videos`` ((video_id, label)) read from ``reader`` (RGB frames).

    Writes ``folder/checkpoint-stage2.pt`` (the classifier) and ``folder/checkpoint.pt`` (the whole stream)
    on rank 0; a resumed call skips a finished stage 2. Every rank ends holding the same weights.
    """
    model.freeze_estimator()
    _stage2(model, reader, videos, config, ctx, folder=folder, meta=meta, resume=resume, progress=progress)
    if config.stage3 is None:
        on_main(lambda: save_checkpoint(folder / CHECKPOINT, {"model": model.state_dict(), "config": meta}))
        return
    model.freeze_estimator(False)
    data = ClipDataset(reader, list(videos), config.clip)
    train_stream(model, data, config.stage3, ctx, checkpoint=folder / CHECKPOINT, resume=resume, meta=meta,
                 workers=config.workers, max_iters=config.stage3_max_iters or config.max_iters,
                 step=end_to_end_step(config.unsup_weight, config.loss), after_backward=estimator_grad_norm,
                 log_csv=folder / "train_log_stage3.csv", progress=progress)  # fmt: skip


def _stage2(model: EmbeddedFlowStream, reader, videos, config: UFTSNConfig, ctx: DistContext, *, folder: Path,
            meta: dict, resume: bool, progress: bool) -> None:  # fmt: skip
    """The classifier on the frozen estimator's flow, cached once like TV-L1 (``flow_cache/``)."""
    from pipeline.api import FolderReader
    from ufsn.tsn.flow_cache import MixedReader, write_flow_cache

    checkpoint = folder / STAGE2_CHECKPOINT
    finished = checkpoint.is_file() and load_checkpoint(checkpoint)["epoch"] >= config.stage2.epochs
    data = None
    if not finished:
        ids = [vid for vid, _ in videos]
        cache = folder / FLOW_CACHE
        # Each rank writes every world_size-th video (one folder each, atomically), then all wait for the rest.
        write_flow_cache(model.estimator, reader, ids[ctx.rank :: ctx.world_size], cache, device=ctx.device,
                         progress=progress and ctx.is_main)  # fmt: skip
        barrier()
        flow = FolderReader(folder, FLOW_CACHE, flow_ext="png", flow_dir=cache)  # only its flow_dir is read
        clip = replace(config.clip, modality="flow")
        data = ClipDataset(MixedReader(reader, flow), list(videos), clip)
    train_stream(model.classifier, data, config.stage2, ctx, checkpoint=checkpoint, meta=meta,
                 resume=resume or finished, workers=config.workers, max_iters=config.max_iters,
                 log_csv=folder / "train_log_stage2.csv", progress=progress)  # fmt: skip
    barrier()  # no rank reads the cache any more
    if ctx.is_main:
        shutil.rmtree(folder / FLOW_CACHE, ignore_errors=True)  # only needed while stage 2 trains
