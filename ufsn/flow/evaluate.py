"""Flow benchmark: UF flow vs OpenCV TV-L1, DIS and Farneback on the same pairs (EPE, outliers, frames/s).

Accuracy is measured at the pairs' native size against exact ground truth (synthetic test split, or
Middlebury-style folders); speed on one pair resized to a stated resolution with the same threads
for every method (torch ``set_num_threads``, OpenCV ``setNumThreads``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.api import FrameSize
from ufsn.errors import ConfigError, MissingInputError
from ufsn.flow.net import FlowNet
from ufsn.layout import chw, hwc, unit_rgb

CLASSICAL = ("tvl1", "dis", "farneback")
MOVING_PX = 1.0  # ground-truth motion above which a pixel counts as moving (``epe_moving``)
BOUNDARY_PX = 3  # non-moving pixels within this distance (chessboard) of a moving one are "boundary"
PIXEL_GROUPS = ("background", "boundary", "moving")
FL_PX, FL_FRACTION = 3.0, 0.05  # KITTI-2015's outlier: end-point error above 3 px and above 5% of the true motion


@dataclass(frozen=True)
class FlowEvalConfig:
    """What to evaluate and how speed is measured."""

    dataset: str = "synthetic"  # dataset name written in the table
    max_pairs: int | None = 400  # evenly spaced subset of the split's pairs (None = all)
    speed_size: FrameSize = FrameSize(width=224, height=224)  # of the speed measurement
    speed_seconds: float = 3.0  # minimum timing window per method / batch size
    batches: tuple[int, ...] = (1, 4, 8, 16)  # net batch sizes tried for the best-batch frames/s
    threads: int = 2  # the same CPU threads for every method
    with_speed: bool = True  # False: accuracy only


class PairSet(NamedTuple):
    """Pairs as uint8 RGB arrays with ground truth; ``noc`` is None where occlusion is unknown."""

    img1: list[np.ndarray]  # (H, W, 3) uint8 each
    img2: list[np.ndarray]
    flow: list[np.ndarray]  # (H, W, 2) float32 px
    valid: list[np.ndarray]  # (H, W) bool: ground truth known
    noc: list[np.ndarray | None] | None  # (H, W) bool: valid and not occluded (None: the benchmark does not say)


class FlowEvalRow(NamedTuple):
    method: str
    dataset: str
    pairs: int
    epe: float | None  # None when no pixel had ground truth: nothing was measured
    epe_noc: float | None
    outlier_1px: float | None
    outlier_3px: float | None
    fps: float | None  # batch 1
    fps_batch: float | None  # at best_batch (UF net only)
    best_batch: int | None
    resolution: str  # of the speed measurement, WxH
    eval_size: str  # of the accuracy pairs
    device: str
    threads: int
    epe_moving: float | None = None  # EPE where the ground truth moves > MOVING_PX (the synthetic actors)
    epe_ci95: float | None = None  # half-width of the 95% bootstrap interval of epe (pairs resampled)
    epe_moving_ci95: float | None = None
    epe_boundary: float | None = None  # EPE of static pixels within BOUNDARY_PX of a moving one
    epe_boundary_ci95: float | None = None
    epe_background: float | None = None  # EPE of the other static pixels
    epe_background_ci95: float | None = None
    epe_occ: float | None = None  # EPE of valid pixels the benchmark marks occluded (Sintel, KITTI flow_occ - noc)
    fl_all: float | None = None  # KITTI's Fl-all: share of valid pixels with error > 3 px and > 5% of |gt|


CSV_COLUMNS = FlowEvalRow._fields  # the flow-eval CSV: one column per row field, in this order


class ErrorSummary(NamedTuple):
    """Errors over the valid pixels of many pairs; a figure is None when no pixel could measure it."""

    epe: float | None  # None when no pair has a valid pixel
    epe_noc: float | None
    outlier_1px: float | None
    outlier_3px: float | None
    epe_moving: float | None  # None when no pixel moves more than MOVING_PX
    epe_ci95: float | None  # half-width (px) of the 95% bootstrap interval over pairs
    epe_moving_ci95: float | None
    epe_boundary: float | None  # None when no pixel is in the group
    epe_boundary_ci95: float | None
    epe_background: float | None
    epe_background_ci95: float | None
    epe_occ: float | None  # None when no pair marks occluded pixels
    fl_all: float | None  # share of valid pixels with error > FL_PX and > FL_FRACTION of the ground-truth length


def pixel_groups(gt: torch.Tensor) -> dict[str, torch.Tensor]:
    """Boolean masks (B, 1, H, W) from ground truth (B, 2, H, W): moving (> MOVING_PX), boundary (not moving,
    within BOUNDARY_PX of a moving pixel: where an estimator spreads an actor's motion), background (the rest)."""
    moving = torch.linalg.vector_norm(gt, dim=1, keepdim=True) > MOVING_PX  # (B, 1, H, W)
    k = 2 * BOUNDARY_PX + 1
    near = F.max_pool2d(moving.float(), k, stride=1, padding=BOUNDARY_PX) > 0  # (B, 1, H, W)
    return {"background": ~near, "boundary": near & ~moving, "moving": moving}


def classical_estimator(name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """(gray1, gray2) uint8 -> (H, W, 2) float32 px for tvl1 | dis | farneback."""
    import cv2

    if name == "tvl1":
        from pipeline.api import TVL1Params, compute_tvl1

        params = TVL1Params()
        return lambda a, b: compute_tvl1(a, b, params)
    if name == "dis":  # one instance per call: the estimator may run on several threads at once
        return lambda a, b: cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(a, b, None)
    if name == "farneback":
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    raise ConfigError(f"unknown method {name!r}; valid: {', '.join(CLASSICAL)}")


def gray(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def to_tensor(rgb: np.ndarray, device) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float in [0, 1] on ``device``."""
    return unit_rgb(rgb)[None].to(device)  # (1, 3, H, W)


@torch.inference_mode()
def uf_flows(net: FlowNet, pairs: PairSet, device, batch: int = 16) -> Iterator[np.ndarray]:
    """The trained network's (H, W, 2) float32 flow in px for every pair, in order, up to ``batch``
    consecutive pairs of one size per forward pass (each pair's flow depends on that pair alone)."""
    start, n = 0, len(pairs.img1)
    while start < n:
        stop = start + 1
        while stop < min(start + batch, n) and pairs.img1[stop].shape == pairs.img1[start].shape:
            stop += 1
        img1 = torch.cat([to_tensor(a, device) for a in pairs.img1[start:stop]])  # (b, 3, H, W)
        img2 = torch.cat([to_tensor(b, device) for b in pairs.img2[start:stop]])
        yield from hwc(net(img1, img2).full.float())  # (H, W, 2) each
        start = stop


class ErrorSums:
    """Accumulates EPE and outlier counts over pixels of many pairs (pixel-weighted means), on all valid
    pixels and per pixel group (:func:`pixel_groups`)."""

    GROUPS = ("all", *PIXEL_GROUPS)

    def __init__(self):
        self.out1 = self.out3 = self.epe_noc = self.n_noc = self.epe_occ = self.n_occ = self.fl = 0.0
        self.per_pair: list[list[float]] = []  # per pair: (error sum, pixels) for each of GROUPS in turn

    def add(self, pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, noc: np.ndarray | None) -> None:
        err = np.linalg.norm(pred - gt, axis=-1)  # (H, W)
        self.out1 += (err[valid] > 1.0).sum()
        self.out3 += (err[valid] > 3.0).sum()
        self.fl += ((err > FL_PX) & (err > FL_FRACTION * np.linalg.norm(gt, axis=-1)))[valid].sum()
        known = np.where(valid[..., None], gt, 0).astype(np.float32)  # (H, W, 2): unknown flow (.flo 1e9) is 0
        groups = pixel_groups(chw(known)[None])  # (1, 1, H, W) each
        masks = {"all": valid, **{g: valid & m[0, 0].numpy() for g, m in groups.items()}}  # (H, W) each
        self.per_pair.append([x for g in self.GROUPS for x in (float(err[masks[g]].sum()), int(masks[g].sum()))])
        if noc is not None:
            self.epe_noc += err[noc].sum()
            self.n_noc += noc.sum()
            occluded = valid & ~noc  # (H, W)
            self.epe_occ += err[occluded].sum()
            self.n_occ += occluded.sum()

    def pair_arrays(self) -> dict[str, np.ndarray]:
        """Per pair, for each pixel group: ``<group>_error`` (summed EPE, px) and ``<group>_pixels``."""
        pairs = np.asarray(self.per_pair, dtype=np.float64).reshape(-1, 2 * len(self.GROUPS))  # (pairs, 2 groups)
        return {f"{g}_{part}": pairs[:, 2 * i + j] for i, g in enumerate(self.GROUPS)
                for j, part in enumerate(("error", "pixels"))}  # fmt: skip

    def summary(self) -> ErrorSummary:
        from ufsn.intervals import bootstrap_ratio_interval

        arrays = self.pair_arrays()
        mean, ci = {}, {}
        for group in self.GROUPS:
            errors, pixels = arrays[f"{group}_error"], arrays[f"{group}_pixels"]  # (pairs,) each
            has = pixels.sum() > 0
            mean[group] = errors.sum() / pixels.sum() if has else None
            ci[group] = bootstrap_ratio_interval(errors, pixels).half_width if has else None
        n = arrays["all_pixels"].sum()
        share = lambda count: count / n if n else None  # noqa: E731  (no valid pixel: nothing was measured)
        noc = self.epe_noc / self.n_noc if self.n_noc else None
        return ErrorSummary(
            epe=mean["all"], epe_noc=noc, outlier_1px=share(self.out1), outlier_3px=share(self.out3),
            epe_moving=mean["moving"], epe_ci95=ci["all"], epe_moving_ci95=ci["moving"],
            epe_boundary=mean["boundary"], epe_boundary_ci95=ci["boundary"],
            epe_background=mean["background"], epe_background_ci95=ci["background"],
            epe_occ=self.epe_occ / self.n_occ if self.n_occ else None, fl_all=share(self.fl),
        )  # fmt: skip


def classical_flows(name: str, pairs: PairSet, threads: int = 1) -> Iterator[np.ndarray]:
    """OpenCV method ``name``'s (H, W, 2) flow for every pair, in order, ``threads`` pairs at a time.

    OpenCV releases the GIL: with one OpenCV thread each (the caller sets it), two pairs at a time use
    two cores, where OpenCV's own threads split a 64x64 pair poorly.
    """
    from concurrent.futures import ThreadPoolExecutor

    estimate = classical_estimator(name)
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        yield from pool.map(lambda i: estimate(gray(pairs.img1[i]), gray(pairs.img2[i])), range(len(pairs.img1)))


def accuracy(flows: Iterable[np.ndarray], pairs: PairSet) -> ErrorSums:
    """The errors of one method's ``flows`` (one (H, W, 2) array per pair, in order) against the ground truth."""
    sums = ErrorSums()
    for i, pred in enumerate(flows):
        sums.add(pred, pairs.flow[i], pairs.valid[i], None if pairs.noc is None else pairs.noc[i])
    return sums


def zero_errors(pairs: PairSet) -> ErrorSums:
    return accuracy((np.zeros_like(flow) for flow in pairs.flow), pairs)


def timed_rate(call: Callable[[], None], items: int, seconds: float) -> float:
    """Items per second of ``call`` (which handles ``items``), after one warm-up call, over >= ``seconds``."""
    call()
    n, start = 0, time.perf_counter()
    while True:
        call()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 2:
            return n * items / elapsed


def speed_pair(pairs: PairSet, size: FrameSize) -> tuple[np.ndarray, np.ndarray]:
    """The first pair resized to ``size`` for the speed measurement: (H, W, 3) uint8 each."""
    import cv2

    return tuple(cv2.resize(img, tuple(size), interpolation=cv2.INTER_LINEAR) for img in (pairs.img1[0], pairs.img2[0]))


def classical_fps(name: str, a: np.ndarray, b: np.ndarray, seconds: float) -> float:
    est, ga, gb = classical_estimator(name), gray(a), gray(b)
    return timed_rate(lambda: est(ga, gb), 1, seconds)


def net_fps(net: FlowNet, a: np.ndarray, b: np.ndarray, batch: int, device, seconds: float) -> float:
    """Frames (pairs) per second of the net at one batch size, inference mode."""
    x1 = to_tensor(a, device).expand(batch, -1, -1, -1).contiguous()  # (N, 3, H, W)
    x2 = to_tensor(b, device).expand(batch, -1, -1, -1).contiguous()  # (N, 3, H, W)

    def call():
        with torch.inference_mode():
            net(x1, x2)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return timed_rate(call, batch, seconds)


def evaluate_methods(net: FlowNet | None, pairs: PairSet, cfg: FlowEvalConfig, device) -> Iterator[FlowEvalRow]:
    """One row per method (zero flow, UF when ``net`` is given, TV-L1, DIS, Farneback)."""
    rows = reference_rows(pairs, cfg)
    yield next(rows)  # zero flow
    if net is not None:
        yield uf_row(net, pairs, cfg, device)
    yield from rows


def _common(pairs: PairSet, cfg: FlowEvalConfig) -> dict:
    sizes = sorted({f"{a.shape[1]}x{a.shape[0]}" for a in pairs.img1})
    speed = cfg.speed_size
    resolution = f"{speed.width}x{speed.height}" if cfg.with_speed else "-"  # no speed measured, no size to state
    return dict(dataset=cfg.dataset, pairs=len(pairs.img1), resolution=resolution,
                eval_size=sizes[0] if len(sizes) == 1 else "mixed", threads=cfg.threads)  # fmt: skip


def uf_row(net: FlowNet, pairs: PairSet, cfg: FlowEvalConfig, device,
           sink: dict[str, ErrorSums] | None = None) -> FlowEvalRow:  # fmt: skip
    """The UF estimator's row: errors on ``pairs`` and, with ``cfg.with_speed``, frames/s per batch size.
    ``sink`` (when given) receives the per-pair errors under "uf", for paired comparisons."""
    torch.set_num_threads(cfg.threads)
    sums = accuracy(uf_flows(net, pairs, device), pairs)
    if sink is not None:
        sink["uf"] = sums
    errors = sums.summary()
    fps = fps_b = best = None
    if cfg.with_speed:
        sa, sb = speed_pair(pairs, cfg.speed_size)
        rates = {b: net_fps(net, sa, sb, b, device, cfg.speed_seconds) for b in cfg.batches}
        fps, best = rates.get(1), max(rates, key=rates.get)
        fps_b = rates[best]
    return FlowEvalRow("uf", **errors._asdict(), fps=fps, fps_batch=fps_b, best_batch=best, device=str(device),
                       **_common(pairs, cfg))  # fmt: skip


def reference_rows(pairs: PairSet, cfg: FlowEvalConfig,
                   sink: dict[str, ErrorSums] | None = None) -> Iterator[FlowEvalRow]:  # fmt: skip
    """Zero flow, then TV-L1, DIS and Farneback: the same for every estimator on the same pairs.
    ``sink`` (when given) receives each method's per-pair errors under its name."""
    import cv2

    sink = {} if sink is None else sink
    common = _common(pairs, cfg)
    sa, sb = speed_pair(pairs, cfg.speed_size) if cfg.with_speed else (None, None)
    sink["zero"] = zero_errors(pairs)
    yield FlowEvalRow("zero", **sink["zero"].summary()._asdict(), fps=None, fps_batch=None, best_batch=None,
                      device="-", **common)  # fmt: skip
    for name in CLASSICAL:
        cv2.setNumThreads(1)  # accuracy: cfg.threads pairs at a time, one OpenCV thread each
        sink[name] = accuracy(classical_flows(name, pairs, cfg.threads), pairs)
        errors = sink[name].summary()
        cv2.setNumThreads(cfg.threads)  # speed: one pair on cfg.threads threads, as every method
        fps = classical_fps(name, sa, sb, cfg.speed_seconds) if cfg.with_speed else None
        yield FlowEvalRow(name, **errors._asdict(), fps=fps, fps_batch=None, best_batch=None, device="cpu",
                          **common)  # fmt: skip


def split_pairs(root: Path, dataset: str, split: int, subset: str, max_pairs: int | None) -> PairSet:
    """Evenly spaced pairs of one split subset, with ground truth and occlusion from flow_gt npz."""
    from pipeline.api import DatasetPaths
    from ufsn.flow.data import load_bank, split_videos

    paths = DatasetPaths(Path(root), dataset)
    bank = load_bank(paths, split_videos(paths, split, (subset,)))
    if bank.flow is None:
        raise MissingInputError(f"no ground-truth flow for {dataset} split {split} {subset} in {paths.flow_gt}")
    n = bank.pairs if max_pairs is None else min(max_pairs, bank.pairs)
    index = torch.linspace(0, bank.pairs - 1, n).round().long()
    img1, img2, flow, noc = bank.batch(index)
    rgb = lambda t: list(hwc((t * 255).round().byte()))  # noqa: E731  (B, 3, H, W) -> (H, W, 3) each
    flows = list(hwc(flow))  # (H, W, 2) each
    return PairSet(
        rgb(img1), rgb(img2), flows, [np.ones(f.shape[:2], bool) for f in flows], [m[0].numpy() > 0.5 for m in noc]
    )


def folder_pairs(folders: list[Path], flow_format: str = "auto", sintel_pass: str = "clean") -> PairSet:
    """The pairs of benchmark folders (Middlebury, MPI-Sintel, KITTI-2015, FlyingChairs; see ufsn.flow.benchmarks)."""
    from ufsn.flow.benchmarks import benchmark_pairs

    loaded = [p for f in folders for p in benchmark_pairs(f, flow_format, sintel_pass)[1]]
    noc = [p.noc for p in loaded]
    return PairSet([p.img1 for p in loaded], [p.img2 for p in loaded], [p.flow for p in loaded],
                   [p.valid for p in loaded], None if all(m is None for m in noc) else noc)  # fmt: skip


def folder_formats(folders: list[Path], flow_format: str = "auto") -> list[str]:
    """The benchmark format of each folder, as detected (or given)."""
    from ufsn.flow.benchmarks import detect_format

    return [detect_format(f) if flow_format == "auto" else flow_format for f in folders]


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing (nothing measured) or b is 0."""
    return a / b if a is not None and b else None


def markdown_table(rows: list[FlowEvalRow]) -> str:
    """Markdown table of rows with EPE ratios to TV-L1 and zero flow, and fps ratios to TV-L1."""
    ref = {r.method: r for r in rows}
    fmt = lambda x, p=3: "-" if x is None else f"{x:.{p}f}"  # noqa: E731
    percent = lambda x: "-" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    lines = ["| method | pairs | EPE | EPE noc | EPE occ | EPE moving | EPE boundary | EPE background | >1px | >3px | Fl-all | EPE / TV-L1 | EPE / zero | fps b1 | fps best (batch) | fps / TV-L1 | resolution | device | threads |",  # noqa: E501
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    tv, zero = ref.get("tvl1"), ref.get("zero")
    for r in rows:
        best = "-" if r.fps_batch is None else f"{r.fps_batch:.1f} ({r.best_batch})"
        speed = max(x for x in (r.fps, r.fps_batch) if x is not None) if r.fps is not None else None
        lines.append(
            f"| {r.method} | {r.pairs} | {fmt(r.epe)} | {fmt(r.epe_noc)} | {fmt(r.epe_occ)} | {fmt(r.epe_moving)} | "
            f"{fmt(r.epe_boundary)} | {fmt(r.epe_background)} | "
            f"{percent(r.outlier_1px)} | {percent(r.outlier_3px)} | {percent(r.fl_all)} | "
            f"{fmt(ratio(r.epe, tv and tv.epe), 2)} | {fmt(ratio(r.epe, zero and zero.epe), 2)} | {fmt(r.fps, 1)} | "
            f"{best} | "
            f"{fmt(speed / tv.fps if speed and tv and tv.fps else None, 1)} | {r.resolution} | {r.device} | "
            f"{r.threads} |"
        )
    return "\n".join(lines)


def flow_metrics(rows: list[FlowEvalRow]) -> dict:
    """The UF row (and the TV-L1 / zero references) as the run record's ``flow_metrics``."""
    by = {r.method: r._asdict() for r in rows}
    out = {k: v for k, v in by.get("uf", {}).items() if k not in ("method",)}
    if "tvl1" in by and "uf" in by:
        out["epe_ratio_tvl1"] = ratio(by["uf"]["epe"], by["tvl1"]["epe"])
        if by["tvl1"]["fps"] and by["uf"]["fps"]:
            out["fps_ratio_tvl1"] = by["uf"]["fps"] / by["tvl1"]["fps"]
    if "zero" in by and "uf" in by and ratio(by["uf"]["epe"], by["zero"]["epe"]) is not None:
        out["epe_ratio_zero"] = ratio(by["uf"]["epe"], by["zero"]["epe"])
    epes = [f for f in ErrorSummary._fields if f.startswith("epe") and f != "epe_noc"]  # each group's EPE and CI
    kept = ("epe", "fps", *epes[1:])
    out["references"] = {m: {k: r[k] for k in kept} for m, r in by.items() if m != "uf"}
    return out
