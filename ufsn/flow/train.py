"""Stage 1: train the flow estimator on consecutive frame pairs of the train split.

Unsupervised variants (full, nms, nocv-nms) minimise the seed's photometric + census + smoothness
loss; ``oracle`` trains the same network on the synthetic ground truth (an upper bound, used later
as the synthetic stand-in for a supervised flow network). Checkpoints are plain dicts carrying the
config, loadable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import torch
from torch.utils.data import default_collate

from pipeline.api import DatasetPaths, atomic_write_text, progress_bar
from ufsn.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from ufsn.choices import check_choices
from ufsn.config_loader import build
from ufsn.distributed import DistContext, all_finite, all_sum, init_distributed, on_main, unwrap, wrap
from ufsn.errors import MissingInputError, NonFiniteLoss
from ufsn.flow.data import split_videos
from ufsn.flow.losses import LossConfig, endpoint_error, fb_occlusion_mask, supervised_loss, unsupervised_loss
from ufsn.flow.net import FlowNet, FlowNetConfig, FlowOutput, count_parameters, flownet_config
from ufsn.flow.pairs import PairAugment, PairDataset, PairStream, evenly_spaced, pair_dataset
from ufsn.flow.selfsup import SelfSupConfig, crop_box, crop_resize, self_supervised_loss
from ufsn.flow.variants import VARIANTS, Variant

# epe: training-batch EPE (px) against ground truth, empty when the data has none; val_epe likewise.
LOG_COLUMNS = ("step", "loss", "diff", "census", "smooth", "selfsup", "epe", "lr", "val_epe", "seconds")


@dataclass(frozen=True)
class FlowTrainConfig:
    """Stage-1 options; ``net`` is the architecture before the variant's switches."""

    root: str = "data"  # data root holding <dataset>/
    dataset: str = "synthetic"  # dataset folder name
    variant: Variant = "full"  # ufsn.flow.variants.VARIANTS: the seed's ablations and the supervised oracle
    split: int = 1  # split k; trains on its train subset, validates on val
    net: FlowNetConfig = field(default_factory=FlowNetConfig)  # architecture (variant switches applied on top)
    loss: LossConfig = field(default_factory=LossConfig)  # unsupervised loss weights
    steps: int = 2000  # optimiser steps
    batch_size: int = 8  # pairs per step and process (x2 when bidirectional); the global batch is x world size
    lr: float = 4e-4  # Adam learning rate
    lr_decay_at: float = 0.75  # fraction of the steps after which the lr decays (the schedule is steps only)
    lr_decay: float = 0.25  # step decay factor
    grad_clip: float = 10.0  # max global gradient norm
    crop: tuple[int, int] | None = (96, 96)  # random crop (H, W); None trains on full frames
    motion_crops: bool = False  # per-sample crops drawn where the frame difference is large (images only)
    photometric: float = 0.2  # strength of brightness / contrast / colour / gamma jitter (0 = off)
    min_difference: float = 0.0  # training pairs with mean |I1 - I2| (0..255) below this are redrawn; 0 = off
    bidirectional: bool = True  # also estimate img2 -> img1 (needed for the occlusion check; 2x data)
    occlusion_warmup: int = 800  # steps before the forward-backward occlusion mask is used (-1 = never)
    late_loss: LossConfig | None = None  # loss from late_step on (e.g. a smaller census weight); None = loss throughout
    late_step: int = -1  # first step of late_loss (-1 = never)
    self_sup: SelfSupConfig = field(default_factory=SelfSupConfig)  # teacher-student term (UFlow); weight 0 = off
    checkpoint_every: int = 250  # steps between checkpoints (and validation EPE, when ground truth exists)
    log_every: int = 10  # steps averaged into one CSV row
    val_pairs: int = 128  # validation pairs for the EPE printed at checkpoints
    max_minutes: float | None = None  # wall-clock cap: stops early (with a checkpoint); never changes the schedule
    max_videos: int | None = None  # optional seeded subset of train videos (pairs are streamed: memory is flat)
    workers: int = 2  # DataLoader processes per rank reading, cropping and jittering pairs (0: in this process)
    seed: int = 0  # seeds init, batch sampling and augmentation (deterministic on CPU)
    threads: int = 2  # torch CPU threads
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True  # mixed precision (CUDA only)

    def __post_init__(self):
        check_choices(self)

    def loss_at(self, step: int) -> LossConfig:
        """The loss configuration of ``step``: ``late_loss`` from ``late_step`` on, else ``loss``."""
        if self.late_loss is not None and 0 <= self.late_step <= step:
            return self.late_loss
        return self.loss

    def end_loss(self) -> LossConfig:
        """The loss of the last step (``late_loss`` when it has taken over): stage 3 goes on with it."""
        return self.loss_at(self.steps - 1)

    def lr_at(self, step: int) -> float:
        """Learning rate of ``step``: a step decay after ``lr_decay_at`` of the steps (no wall clock)."""
        return self.lr * (self.lr_decay if step >= self.lr_decay_at * self.steps else 1.0)

    def pair_augment(self) -> PairAugment:
        """The training pairs' augmentation and still-pair redraw (read by the pair dataset's items)."""
        return PairAugment(self.crop, self.motion_crops, self.photometric, self.min_difference)

    def resolved_net(self) -> FlowNetConfig:
        return dataclasses.replace(self.net, **VARIANTS[self.variant].net)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, file: str = "stage-1 config") -> FlowTrainConfig:
        """Inverse of :meth:`to_dict`, and the reader of TOML tables: unknown keys name ``file`` and the section.

        A ``[late_loss]`` table need only name what changes: its keys override ``[loss]``.
        """
        d = dict(d)
        if isinstance(d.get("late_loss"), dict):
            d["late_loss"] = {**d.get("loss", {}), **d["late_loss"]}
        return build(cls, d, file=file)


class TrainResult(NamedTuple):
    steps: int
    seconds: float
    params: int
    device: str
    val_epe: float | None  # last validation EPE (px), None without ground truth
    stopped_early: bool  # the max_minutes cap ended the run before its steps
    world_size: int  # processes that trained it
    global_batch: int  # pairs per optimiser step over all processes


def load_estimator(path: Path, device: str | torch.device = "cpu") -> FlowNet:
    """A trained stage-1 estimator (eval mode) from a checkpoint written by :func:`train_flow`."""
    state = load_checkpoint(Path(path), map_location=device)
    net = FlowNet(flownet_config(state["net_config"], file=str(path)))
    net.load_state_dict(state["model"])
    return net.to(device).eval()


def _split_output(out: FlowOutput, b: int) -> tuple[FlowOutput, FlowOutput]:
    """A bidirectional batch [fw; bw] of size 2B -> two outputs of size B."""
    fw = FlowOutput([f[:b] for f in out.flows], out.full[:b])
    bw = FlowOutput([f[b:] for f in out.flows], out.full[b:])
    return fw, bw


def _head(out: FlowOutput, n: int) -> FlowOutput:
    """The first ``n`` pairs of a batched output."""
    return FlowOutput([f[:n] for f in out.flows], out.full[:n])


def compute_loss(net, cfg: FlowTrainConfig, step: int, img1, img2, flow, noc):
    """Loss of one (augmented) batch for the configured variant; returns (loss, metrics).

    ``flow`` (B, 2, h, w) is the ground truth, or None when the data has none: then ``metrics`` has no
    ``epe`` (an EPE against a zero stand-in would be the flow's magnitude, not an error). With
    self-supervision active the student's cropped pairs ride in the same forward pass (one DDP forward).
    """
    loss_cfg = cfg.loss_at(step)
    if VARIANTS[cfg.variant].supervised:
        return supervised_loss(net(img1, img2), flow, loss_cfg)
    b, size = img1.shape[0], tuple(img1.shape[-2:])
    selfsup = cfg.self_sup.active(cfg.variant, step, cfg.steps)
    box = crop_box(*size, cfg.self_sup.border) if selfsup else None
    student_pair = [[crop_resize(img1, box, size)], [crop_resize(img2, box, size)]] if selfsup else [[], []]
    if not cfg.bidirectional:
        out = net(torch.cat([img1, *student_pair[0]]), torch.cat([img2, *student_pair[1]]))  # (1 or 2) x B pairs
        fw = _head(out, b)
        loss, metrics = unsupervised_loss(img1, img2, fw, loss_cfg)
        visible = torch.ones_like(fw.full[:, :1])
    else:
        out = net(torch.cat([img1, img2, *student_pair[0]]), torch.cat([img2, img1, *student_pair[1]]))  # 2B (+B)
        fw, bw = _split_output(_head(out, 2 * b), b)
        occ_fw = occ_bw = None
        if 0 <= cfg.occlusion_warmup <= step:
            with torch.profiler.record_function("loss.occlusion"):
                occ_fw, occ_bw = fb_occlusion_mask(fw.full, bw.full), fb_occlusion_mask(bw.full, fw.full)
        loss_fw, m_fw = unsupervised_loss(img1, img2, fw, loss_cfg, occ_fw)
        loss_bw, m_bw = unsupervised_loss(img2, img1, bw, loss_cfg, occ_bw)
        loss, metrics = (loss_fw + loss_bw) / 2, {k: (m_fw[k] + m_bw[k]) / 2 for k in m_fw}
        visible = occ_fw if occ_fw is not None else (fb_occlusion_mask(fw.full, bw.full) if selfsup else None)
    if selfsup:
        with torch.profiler.record_function("loss.selfsup"):
            term = self_supervised_loss(out.full[-b:], fw.full, visible, box, cfg.self_sup.charbonnier_eps)
        loss = loss + cfg.self_sup.weight * term
        metrics["selfsup"] = term.item()
        metrics["loss"] = loss.item()
    if flow is not None:
        metrics["epe"] = endpoint_error(fw.full.detach(), flow).mean().item()
    return loss, metrics


@torch.no_grad()
def validation_epe(net: FlowNet, data: PairDataset, pairs: int, device: torch.device, ctx: DistContext | None = None,
                   batch: int = 16) -> float:  # fmt: skip
    """Mean EPE (px) over ``pairs`` evenly spaced pairs of ``data`` (every class, not the first videos).

    Under DDP each rank measures every world_size-th pair and the sums are all-reduced: every rank
    returns the same mean.
    """
    rank, world = (ctx.rank, ctx.world_size) if ctx is not None else (0, 1)
    mine = evenly_spaced(data, pairs)[rank::world]
    net.eval()
    sums = torch.zeros(2, dtype=torch.float64)  # (EPE sum, pairs)
    for start in range(0, len(mine), batch):
        img1, img2, flow, _ = (t.to(device) for t in default_collate([data[i] for i in mine[start : start + batch]]))
        sums[0] += endpoint_error(net(img1, img2).full.float(), flow).mean(dim=(1, 2, 3)).sum().item()
        sums[1] += img1.shape[0]
    net.train()
    sums = all_sum(sums)
    return float(sums[0] / max(float(sums[1]), 1.0))


def _write_log(path: Path, rows: list[dict], keep_until: int | None = None) -> None:
    """Append rows to the CSV log; with ``keep_until`` first drop rows after that step (resume).

    The resume rewrite goes through a temporary file and a rename, so a kill mid-rewrite cannot
    lose the rows up to the checkpoint (the checkpoint does not hold them).
    """
    if keep_until is None and path.is_file():
        with path.open("a", newline="") as f:
            csv.DictWriter(f, LOG_COLUMNS, extrasaction="ignore").writerows(rows)
        return
    old = []
    if path.is_file():
        with path.open(newline="") as f:
            old = [r for r in csv.DictReader(f) if keep_until is None or int(r["step"]) <= keep_until]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, LOG_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(old + rows)
    atomic_write_text(path, buffer.getvalue())


def training_videos(cfg: FlowTrainConfig, paths: DatasetPaths) -> list[str]:
    """The split's train videos, or the config's seeded subset of ``max_videos`` of them."""
    train_ids = split_videos(paths, cfg.split, ("train",))
    if not train_ids:
        raise MissingInputError(f"no train videos for split {cfg.split} of {paths.base}; choose another --split")
    if cfg.max_videos is not None:
        pick = torch.randperm(len(train_ids), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.max_videos]
        train_ids = [train_ids[i] for i in sorted(pick.tolist())]
    return train_ids


def _pair_loader(data: PairDataset, cfg: FlowTrainConfig, ctx: DistContext, start: int, device: torch.device):
    """Batches of this rank's share of the pair stream from draw ``start`` on (workers read and augment)."""
    from ufsn.workers import capped_workers, worker_options

    stream = PairStream(len(data), batch=cfg.batch_size, rank=ctx.rank, world_size=ctx.world_size, seed=cfg.seed,
                        start=start)  # fmt: skip
    return torch.utils.data.DataLoader(data, batch_size=cfg.batch_size, sampler=stream,
                                       pin_memory=device.type == "cuda",
                                       **worker_options(capped_workers(cfg.workers)))  # fmt: skip


def _mean_metrics(window: list[dict]) -> dict:
    """The window's mean loss terms and EPE, averaged over the ranks too (every rank logs the same row)."""
    keys = ("loss", "diff", "census", "smooth", "selfsup", "epe")
    sums = torch.tensor([[sum(m.get(k, 0.0) for m in window) for k in keys],
                         [sum(k in m for m in window) for k in keys]], dtype=torch.float64)  # fmt: skip
    sums = all_sum(sums)  # (2, keys): totals and counts over ranks and steps
    return {k: float(sums[0, i] / sums[1, i]) if sums[1, i] else "" for i, k in enumerate(keys)}


def train_flow(cfg: FlowTrainConfig, run_dir: Path, *, resume: bool = False, progress: bool = True,
               ctx: DistContext | None = None) -> TrainResult:  # fmt: skip
    """Train (or resume) stage 1 into ``run_dir``: checkpoint.pt and train_log.csv (rank 0 writes them).

    Under torchrun every rank trains a DDP copy on its share of each global batch; the checkpoint holds the
    draws taken from the pair stream, so a resumed run continues the uninterrupted one's batches.
    """

    ctx = ctx or init_distributed(cfg.device)
    device = ctx.device
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    paths = DatasetPaths(Path(cfg.root), cfg.dataset)
    augment = cfg.pair_augment()
    data = pair_dataset(paths.root, paths.dataset, training_videos(cfg, paths), augment=augment, seed=cfg.seed)
    if VARIANTS[cfg.variant].supervised and not data.ground_truth:
        raise MissingInputError(f"variant {cfg.variant!r} needs ground-truth flow in {paths.flow_gt}")
    val_ids = split_videos(paths, cfg.split, ("val",))  # none when the split has no val groups
    val = pair_dataset(paths.root, paths.dataset, val_ids) if val_ids else None
    val = val if val is not None and val.ground_truth else None  # a validation EPE needs ground truth

    net = FlowNet(cfg.resolved_net()).to(device).train()
    model = wrap(net, ctx)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    global_batch = cfg.batch_size * ctx.world_size
    ckpt_path, log_path = Path(run_dir) / CHECKPOINT, Path(run_dir) / "train_log.csv"
    step, draws, seconds0 = 0, 0, 0.0
    if resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path, map_location=device)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        step, draws, seconds0 = state["step"], state["draws"], state["seconds"]
    on_main(lambda: _write_log(log_path, [], keep_until=step))

    def save(val_epe):
        save_checkpoint(ckpt_path, {
            "model": net.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
            "step": step, "draws": draws, "world_size": ctx.world_size, "global_batch": global_batch,
            "seconds": seconds0 + time.perf_counter() - start,
            "config": cfg.to_dict(), "net_config": dataclasses.asdict(net.config), "val_epe": val_epe,
        })  # fmt: skip

    batches = iter(_pair_loader(data, cfg, ctx, draws, device))
    start, window, val_epe, early = time.perf_counter(), [], None, False
    bar = progress_bar(total=cfg.steps, initial=step, enabled=progress and ctx.is_main, desc=f"flow-{cfg.variant}",
                       unit="step")  # fmt: skip
    while step < cfg.steps:
        lr = cfg.lr_at(step)
        for group in opt.param_groups:
            group["lr"] = lr
        img1, img2, flow, noc = (t.to(device, non_blocking=True) for t in next(batches))
        with torch.autocast(device.type, enabled=use_amp):
            loss, metrics = compute_loss(model, cfg, step, img1, img2, flow if data.ground_truth else None, noc)
        if not all_finite(loss):  # every rank stops here together
            raise NonFiniteLoss(
                f"non-finite loss at step {step} ({metrics}); last good checkpoint: {ckpt_path} "
                "(try a lower lr, a later occlusion_warmup or a smaller grad_clip)"
            )
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()  # DDP all-reduces the gradients here
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        scaler.step(opt)
        scaler.update()
        step, draws = step + 1, draws + global_batch
        bar.update(1)
        window.append(metrics)
        if step % cfg.log_every and step != cfg.steps:
            continue
        # The wall-clock cap is read by rank 0 at log steps only, so every rank stops after the same step.
        elapsed = seconds0 + time.perf_counter() - start
        over_time = on_main(lambda e=elapsed: cfg.max_minutes is not None and e > 60 * cfg.max_minutes)
        early = over_time and step < cfg.steps
        row = {**_mean_metrics(window), "step": step, "lr": lr, "seconds": round(elapsed, 1), "val_epe": ""}
        window = []
        if step % cfg.checkpoint_every == 0 or step == cfg.steps or early:
            if val is not None:
                val_epe = row["val_epe"] = validation_epe(unwrap(model), val, cfg.val_pairs, device, ctx)
            on_main(lambda v=val_epe: save(v))
        on_main(lambda r=row: _write_log(log_path, [r]))
        bar.set_postfix(loss=f"{row['loss']:.3f}", epe="-" if row["epe"] == "" else f"{row['epe']:.2f}", val=val_epe)
        if early:
            break
    bar.close()
    del batches  # stops the loader's workers
    return TrainResult(step, seconds0 + time.perf_counter() - start, count_parameters(net), str(device), val_epe,
                       early, ctx.world_size, global_batch)  # fmt: skip
