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
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch

from pipeline.api import DatasetPaths, atomic_write_text
from ufsn.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from ufsn.config_loader import build
from ufsn.distributed import pick_device
from ufsn.flow.augment import geometric, photometric
from ufsn.flow.data import PairBank, load_bank, split_videos
from ufsn.flow.losses import LossConfig, endpoint_error, fb_occlusion_mask, supervised_loss, unsupervised_loss
from ufsn.flow.net import FlowNet, FlowNetConfig, FlowOutput, count_parameters, flownet_config
from ufsn.flow.variants import VARIANTS
from ufsn.tsn.train import NonFiniteLoss

# epe: training-batch EPE (px) against ground truth, empty when the data has none; val_epe likewise.
LOG_COLUMNS = ("step", "loss", "diff", "census", "smooth", "epe", "lr", "val_epe", "seconds")


@dataclass(frozen=True)
class FlowTrainConfig:
    """Stage-1 options; ``net`` is the architecture before the variant's switches."""

    root: str = "data"  # data root holding <dataset>/
    dataset: str = "synthetic"  # dataset folder name
    variant: str = "full"  # full | nms | nocv-nms | oracle (supervised on ground truth)
    split: int = 1  # split k; trains on its train subset, validates on val
    net: FlowNetConfig = field(default_factory=FlowNetConfig)  # architecture (variant switches applied on top)
    loss: LossConfig = field(default_factory=LossConfig)  # unsupervised loss weights
    steps: int = 2000  # optimiser steps
    batch_size: int = 8  # pairs per step (x2 when bidirectional)
    lr: float = 4e-4  # Adam learning rate
    lr_decay_at: float = 0.75  # progress (fraction of steps, or of max_minutes if that ends first) to decay the lr
    lr_decay: float = 0.25  # step decay factor
    grad_clip: float = 10.0  # max global gradient norm
    crop: tuple[int, int] | None = (96, 96)  # random crop (H, W); None trains on full frames
    motion_crops: bool = False  # per-sample crops drawn where the frame difference is large (images only)
    photometric: float = 0.2  # strength of brightness / contrast / colour / gamma jitter (0 = off)
    bidirectional: bool = True  # also estimate img2 -> img1 (needed for the occlusion check; 2x data)
    occlusion_warmup: int = 800  # steps before the forward-backward occlusion mask is used (-1 = never)
    late_loss: LossConfig | None = None  # loss from late_step on (e.g. a smaller census weight); None = loss throughout
    late_step: int = -1  # first step of late_loss (-1 = never)
    checkpoint_every: int = 250  # steps between checkpoints (and validation EPE, when ground truth exists)
    log_every: int = 10  # steps averaged into one CSV row
    val_pairs: int = 128  # validation pairs for the EPE printed at checkpoints
    max_minutes: float | None = None  # wall-clock budget; stops cleanly (with a checkpoint) when reached
    max_videos: int | None = None  # seeded subset of train videos (large datasets do not fit in memory)
    seed: int = 0  # seeds init, batch sampling and augmentation (deterministic on CPU)
    threads: int = 2  # torch CPU threads
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision (CUDA only)

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; valid: {', '.join(VARIANTS)}")

    def loss_at(self, step: int) -> LossConfig:
        """The loss configuration of ``step``: ``late_loss`` from ``late_step`` on, else ``loss``."""
        if self.late_loss is not None and 0 <= self.late_step <= step:
            return self.late_loss
        return self.loss

    def resolved_net(self) -> FlowNetConfig:
        return dataclasses.replace(self.net, **VARIANTS[self.variant])

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
    stopped_early: bool  # the max_minutes budget ended the run


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


def training_batch(bank: PairBank, cfg: FlowTrainConfig, gen: torch.Generator, device: torch.device):
    """One augmented batch as stage 1 draws it: random pairs, crop and flips, photometric jitter.

    Returns (img1, img2, flow, noc) on ``device``: (B, 3, h, w) x 2, (B, 2, h, w), (B, 1, h, w).
    """
    idx = torch.randint(0, bank.pairs, (cfg.batch_size,), generator=gen)
    img1, img2, flow, noc = bank.batch(idx)
    img1, img2, flow, noc = geometric(img1, img2, flow, noc, gen, cfg.crop, cfg.motion_crops)
    if cfg.photometric > 0:
        img1, img2 = photometric(img1, img2, gen, cfg.photometric)
    return tuple(t.to(device) for t in (img1, img2, flow, noc))


def compute_loss(net, cfg: FlowTrainConfig, step: int, img1, img2, flow, noc):
    """Loss of one (augmented) batch for the configured variant; returns (loss, metrics).

    ``flow`` (B, 2, h, w) is the ground truth, or None when the data has none: then ``metrics`` has no
    ``epe`` (an EPE against a zero stand-in would be the flow's magnitude, not an error).
    """
    loss_cfg = cfg.loss_at(step)
    if cfg.variant == "oracle":
        return supervised_loss(net(img1, img2), flow, loss_cfg)
    if not cfg.bidirectional:
        fw = net(img1, img2)
        loss, metrics = unsupervised_loss(img1, img2, fw, loss_cfg)
    else:
        b = img1.shape[0]
        fw, bw = _split_output(net(torch.cat([img1, img2]), torch.cat([img2, img1])), b)  # 2B pairs
        occ_fw = occ_bw = None
        if 0 <= cfg.occlusion_warmup <= step:
            with torch.profiler.record_function("loss.occlusion"):
                occ_fw, occ_bw = fb_occlusion_mask(fw.full, bw.full), fb_occlusion_mask(bw.full, fw.full)
        loss_fw, m_fw = unsupervised_loss(img1, img2, fw, loss_cfg, occ_fw)
        loss_bw, m_bw = unsupervised_loss(img2, img1, bw, loss_cfg, occ_bw)
        loss, metrics = (loss_fw + loss_bw) / 2, {k: (m_fw[k] + m_bw[k]) / 2 for k in m_fw}
    if flow is not None:
        metrics["epe"] = endpoint_error(fw.full.detach(), flow).mean().item()
    return loss, metrics


@torch.no_grad()
def validation_epe(net: FlowNet, bank: PairBank, pairs: int, device: torch.device, batch: int = 16) -> float:
    """Mean EPE (px) over ``pairs`` evenly spaced pairs of a bank with ground truth (every class, not the first)."""
    net.eval()
    total, count = 0.0, 0
    chosen = torch.linspace(0, bank.pairs - 1, min(pairs, bank.pairs)).round().long()  # (P,)
    for idx in chosen.split(batch):
        img1, img2, flow, _ = (t.to(device) for t in bank.batch(idx))
        total += endpoint_error(net(img1, img2).full, flow).mean(dim=(1, 2, 3)).sum().item()
        count += len(idx)
    net.train()
    return total / max(count, 1)


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


def train_flow(cfg: FlowTrainConfig, run_dir: Path, *, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train (or resume) stage 1 into ``run_dir``: checkpoint.pt and train_log.csv."""
    from tqdm import tqdm

    device = pick_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    paths = DatasetPaths(Path(cfg.root), cfg.dataset)
    train_ids = split_videos(paths, cfg.split, ("train",))
    if cfg.max_videos is not None:
        pick = torch.randperm(len(train_ids), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.max_videos]
        train_ids = [train_ids[i] for i in sorted(pick.tolist())]
    bank = load_bank(paths, train_ids)
    if cfg.variant == "oracle" and bank.flow is None:
        raise FileNotFoundError(f"variant 'oracle' needs ground-truth flow in {paths.flow_gt}")
    val_ids = split_videos(paths, cfg.split, ("val",))  # none when the split has no val groups
    val_bank = load_bank(paths, val_ids) if val_ids else None
    val_bank = val_bank if val_bank is not None and val_bank.flow is not None else None

    net = FlowNet(cfg.resolved_net()).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = run_dir / CHECKPOINT, run_dir / "train_log.csv"
    step, seconds0 = 0, 0.0
    if resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path, map_location=device)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        step, seconds0 = state["step"], state["seconds"]
    _write_log(log_path, [], keep_until=step)

    def save(val_epe):
        save_checkpoint(ckpt_path, {
            "model": net.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
            "step": step, "seconds": seconds0 + time.perf_counter() - start,
            "config": cfg.to_dict(), "net_config": dataclasses.asdict(net.config), "val_epe": val_epe,
        })  # fmt: skip

    start, rows, window, val_epe, early = time.perf_counter(), [], [], None, False
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, desc=f"flow-{cfg.variant}", unit="step")
    while step < cfg.steps:
        elapsed = seconds0 + time.perf_counter() - start
        progress = max(step / cfg.steps, elapsed / (60 * cfg.max_minutes) if cfg.max_minutes else 0.0)
        lr = cfg.lr * (cfg.lr_decay if progress >= cfg.lr_decay_at else 1.0)
        for group in opt.param_groups:
            group["lr"] = lr
        img1, img2, flow, noc = training_batch(bank, cfg, gen, device)
        flow = flow if bank.flow is not None else None  # zeros stand in for unknown ground truth
        with torch.autocast(device.type, enabled=use_amp):
            loss, metrics = compute_loss(net, cfg, step, img1, img2, flow, noc)
        if not math.isfinite(metrics["loss"]):
            raise NonFiniteLoss(
                f"non-finite loss at step {step} ({metrics}); last good checkpoint: {ckpt_path} "
                "(try a lower lr, a later occlusion_warmup or a smaller grad_clip)"
            )
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        scaler.step(opt)
        scaler.update()
        step += 1
        bar.update(1)
        window.append(metrics)
        out_of_time = cfg.max_minutes is not None and seconds0 + time.perf_counter() - start > 60 * cfg.max_minutes
        last = step == cfg.steps or out_of_time
        if step % cfg.log_every == 0 or last:
            row = {k: sum(m.get(k, 0.0) for m in window) / len(window) for k in ("loss", "diff", "census", "smooth")}
            epes = [m["epe"] for m in window if "epe" in m]
            row["epe"] = sum(epes) / len(epes) if epes else ""  # empty: no ground truth to measure against
            row.update(step=step, lr=lr, seconds=round(seconds0 + time.perf_counter() - start, 1), val_epe="")
            window = []
            if step % cfg.checkpoint_every == 0 or last:
                if val_bank is not None:
                    val_epe = row["val_epe"] = validation_epe(net, val_bank, cfg.val_pairs, device)
                save(val_epe)
            rows.append(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", epe=f"{row['epe']:.2f}" if epes else "-", val=val_epe)
            _write_log(log_path, rows)
            rows = []
        if out_of_time:
            early = True
            break
    bar.close()
    return TrainResult(step, seconds0 + time.perf_counter() - start, count_parameters(net), str(device), val_epe, early)
