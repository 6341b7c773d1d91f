"""Training stages of the TSN streams and of UF-TSN, independent of where runs are stored.

``train_stream`` trains any stream (spatial RGB, temporal on TV-L1, or the embedded-flow temporal
stream of stages 2 and 3) on a ClipDataset, on one device or under torchrun (DDP).
Stage 3 adds lambda x the unsupervised flow loss to the classification loss and logs the norm of
the gradient that reaches the estimator.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ufsn.distributed import DistContext, unwrap, wrap
from ufsn.flow.losses import LossConfig, unsupervised_loss
from ufsn.tsn.train import EpochStats, FitResult, OptimConfig, StepFn, classification_step, fit


def make_loader_factory(dataset, config: OptimConfig, ctx: DistContext, *, workers: int, max_iters: int = 0):
    """``epoch -> iterable of batches``: seeded shuffling (DistributedSampler under DDP), per-process batch."""
    from ufsn.workers import capped_workers, worker_options

    workers = capped_workers(workers)

    def loader_for_epoch(epoch: int):
        # A DistributedSampler even in a single process: the same seeded permutation for any world size,
        # so k processes x batch b see exactly the batches of one process x batch k*b.
        sampler = torch.utils.data.DistributedSampler(
            dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed
        )
        sampler.set_epoch(epoch)
        torch.manual_seed(config.seed * 1000 + epoch * 7 + ctx.rank)  # augmentation draws (ClipDataset)
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=config.batch_size, sampler=sampler,
            drop_last=len(dataset) >= config.batch_size * ctx.world_size, **worker_options(workers),
        )  # fmt: skip
        return itertools.islice(loader, max_iters) if max_iters > 0 else loader

    return loader_for_epoch


def csv_logger(path: Path) -> Callable[[list[EpochStats]], None]:
    """Rewrite ``path`` atomically with one row per epoch (epoch, loss, accuracy, seconds, extras)."""
    from pipeline.api import atomic_write_text

    def log(history: list[EpochStats]) -> None:
        extras = sorted(history[-1].extra)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["epoch", "loss", "accuracy", "seconds", *extras])
        for stats in history:
            writer.writerow([stats.epoch, f"{stats.loss:.5f}", f"{stats.accuracy:.4f}", f"{stats.seconds:.1f}",
                             *(f"{stats.extra.get(k, float('nan')):.5g}" for k in extras)])  # fmt: skip
        atomic_write_text(path, buffer.getvalue())

    return log


def train_stream(
    model: nn.Module,
    dataset,
    config: OptimConfig,
    ctx: DistContext,
    *,
    checkpoint: Path,
    resume: bool,
    meta: dict,
    workers: int = 2,
    max_iters: int = 0,
    step: StepFn = classification_step,
    after_backward: Callable[[nn.Module], dict] | None = None,
    log_csv: Path | None = None,
    progress: bool = True,
) -> FitResult:
    """Train ``model`` (moved to ``ctx.device``, DDP-wrapped when distributed) with per-epoch checkpoints."""
    torch.manual_seed(config.seed)
    wrapped = wrap(model.to(ctx.device), ctx)
    loaders = make_loader_factory(dataset, config, ctx, workers=workers, max_iters=max_iters)
    return fit(
        wrapped, loaders, config, device=ctx.device, checkpoint=checkpoint, resume=resume, meta=meta, step=step,
        is_main=ctx.is_main, progress=progress, after_backward=after_backward,
        log=csv_logger(log_csv) if log_csv is not None else None,
    )  # fmt: skip


def end_to_end_step(unsup_weight: float, loss_config: LossConfig) -> StepFn:
    """Stage 3: cross-entropy + ``unsup_weight`` x the unsupervised flow loss (``loss_config``: the stage-1
    run's) on the snippets' pairs.

    The forward goes through ``model`` itself (DDP's forward when wrapped): DDP all-reduces the gradients
    of what ran through its forward only.
    """

    def step(model: nn.Module, batch: dict):
        out = model(batch["input"], with_flow=True)  # EmbeddedForward
        ce = nn.functional.cross_entropy(out.scores, batch["label"])
        flow_loss, metrics = unsupervised_loss(out.img1, out.img2, out.flow, loss_config)
        return ce + unsup_weight * flow_loss, out.scores, {"ce": ce.item(), "flow_loss": metrics["loss"]}

    return step


def estimator_grad_norm(model: nn.Module) -> dict:
    """``after_backward`` hook: L2 norm of the gradient reaching the flow estimator (stage 3 log)."""
    grads = [p.grad.detach().norm() for p in unwrap(model).estimator.parameters() if p.grad is not None]
    return {"estimator_grad_norm": float(torch.stack(grads).norm()) if grads else 0.0}
