"""OpenCV's Dual TV-L1 against the PyTorch port (pipeline.steps.tvl1.pytorch) on the same pairs: accuracy and speed.

Accuracy: EPE against ground truth for both on the synthetic set's test pairs and the Middlebury pairs of
../shared/realdata/flow_gt, with 95% bootstrap intervals over pairs, the torch / OpenCV EPE ratio with a
paired interval (pairs resampled together), and the mean EPE between the two flows; on frames of the real
UCF-101 clips (no ground truth) the EPE between the two flows only.

Speed: pairs/s on the UCF-101 frames at 340x256, one process with the same thread count for both;
OpenCV one pair at a time, torch at batch 1 and at each batch of ``batches`` (the best is reported), and
on CUDA when torch sees a GPU. ``torch.compile``'s one-off build happens in a warm-up call, outside the
timing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pipeline.steps.tvl1.params import TVL1Params
from ufsn.flow.evaluate import gray as _grey

UCF_SIZE = (256, 340)  # (H, W): the frame size of the UCF-101 / HMDB-51 pipeline


@dataclass(frozen=True)
class PerfTVL1Config:
    """Options of ``ufsn-bench perf tvl1``."""

    realdata: Path | None  # ../shared/realdata (Middlebury flow_gt, UCF-101 clips); None = skip those rows
    synthetic_root: Path | None  # data root holding synthetic/ (its split-1 test pairs); None = skip
    synthetic_pairs: int = 64  # evenly spaced test pairs
    ucf_pairs: int = 4  # consecutive pairs from the middle of each UCF-101 clip
    params: TVL1Params = field(default_factory=TVL1Params)
    threads: int = 2  # CPU threads of both implementations
    batches: tuple[int, ...] = (4, 12)  # torch batches tried for the best pairs/s (batch 1 is always timed)
    compile: bool = True  # torch.compile the torch iteration
    seed: int = 0


class AccuracyRow(NamedTuple):
    pairs_name: str
    pairs: int
    size: str  # WxH, or "various"
    epe_opencv: float | None  # None without ground truth
    epe_opencv_ci95: float | None
    epe_torch: float | None
    epe_torch_ci95: float | None
    ratio: float | None  # torch EPE / OpenCV EPE
    ratio_ci95: tuple[float, float] | None
    between: float  # mean EPE between the two flows, px


class SpeedRow(NamedTuple):
    impl: str
    device: str
    batch: int
    pairs_per_s: float
    vs_opencv: float


class GreyPairs(NamedTuple):
    first: list[np.ndarray]  # (H, W) uint8 each
    second: list[np.ndarray]
    flow: list[np.ndarray] | None  # (H, W, 2) float32 ground truth
    valid: list[np.ndarray] | None  # (H, W) bool


def middlebury_pairs(realdata: Path) -> GreyPairs:
    from ufsn.flow.evaluate import folder_pairs

    pairs = folder_pairs(sorted((realdata / "flow_gt").glob("middlebury_*")))
    return GreyPairs([_grey(a) for a in pairs.img1], [_grey(b) for b in pairs.img2], pairs.flow, pairs.valid)


def synthetic_pairs(root: Path, count: int) -> GreyPairs:
    from ufsn.flow.evaluate import split_pairs

    pairs = split_pairs(root, "synthetic", 1, "test", count)
    valid = pairs.noc if pairs.noc is not None else pairs.valid  # occluded pixels have no matching intensity
    return GreyPairs([_grey(a) for a in pairs.img1], [_grey(b) for b in pairs.img2], pairs.flow, valid)


def ucf_pairs(realdata: Path, per_clip: int) -> GreyPairs:
    """``per_clip`` consecutive pairs from the middle of each UCF-101 clip, resized to 340x256 like extract."""
    import cv2

    first, second = [], []
    for clip in sorted((realdata / "ucf101_videos").glob("*.avi")):
        cap = cv2.VideoCapture(str(clip))
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(cv2.resize(frame, UCF_SIZE[::-1], interpolation=cv2.INTER_AREA),
                                       cv2.COLOR_BGR2GRAY))  # fmt: skip
        cap.release()
        start = max(0, len(frames) // 2 - per_clip // 2)
        chosen = frames[start : start + per_clip + 1]
        first += chosen[:-1]
        second += chosen[1:]
    if not first:
        raise FileNotFoundError(f"no UCF-101 clips in {realdata / 'ucf101_videos'}")
    return GreyPairs(first, second, None, None)


def opencv_flows(pairs: GreyPairs, params: TVL1Params) -> list[np.ndarray]:
    from pipeline.steps.tvl1.opencv import compute_tvl1

    return [compute_tvl1(a, b, params) for a, b in zip(pairs.first, pairs.second, strict=True)]


def torch_flows(pairs: GreyPairs, params: TVL1Params, device: str, compile: bool, batch: int) -> list[np.ndarray]:
    """Flows of every pair; runs of consecutive pairs of one size go in batches of up to ``batch``."""
    from pipeline.steps.tvl1.pytorch import tvl1_flow_numpy

    out: list[np.ndarray] = []
    i = 0
    while i < len(pairs.first):
        j = i + 1
        while j < len(pairs.first) and j - i < batch and pairs.first[j].shape == pairs.first[i].shape:
            j += 1
        flows = tvl1_flow_numpy(np.stack(pairs.first[i:j]), np.stack(pairs.second[i:j]), params, device, compile)
        out += list(flows)
        i = j
    return out


def _error_sums(flows: list[np.ndarray], pairs: GreyPairs) -> np.ndarray:
    """(pairs, 2): per pair the sum of endpoint errors over valid pixels and the count of those pixels."""
    rows = []
    for f, gt, valid in zip(flows, pairs.flow, pairs.valid, strict=True):
        err = np.linalg.norm(f - gt, axis=-1)  # (H, W)
        rows.append((float(err[valid].sum()), int(valid.sum())))
    return np.asarray(rows, dtype=np.float64)


def accuracy_row(
    name: str, pairs: GreyPairs, opencv: list[np.ndarray], ours: list[np.ndarray], seed: int
) -> AccuracyRow:
    from ufsn.intervals import bootstrap_ratio_interval

    sizes = {a.shape for a in pairs.first}
    size = f"{pairs.first[0].shape[1]}x{pairs.first[0].shape[0]}" if len(sizes) == 1 else "various"
    between = float(np.mean([np.linalg.norm(a - b, axis=-1).mean() for a, b in zip(opencv, ours, strict=True)]))
    if pairs.flow is None:
        return AccuracyRow(name, len(opencv), size, None, None, None, None, None, None, between)
    cv_sums, torch_sums = _error_sums(opencv, pairs), _error_sums(ours, pairs)
    cv_ci = bootstrap_ratio_interval(cv_sums[:, 0], cv_sums[:, 1], seed=seed)
    torch_ci = bootstrap_ratio_interval(torch_sums[:, 0], torch_sums[:, 1], seed=seed)
    ratio = bootstrap_ratio_interval(torch_sums[:, 0], cv_sums[:, 0], seed=seed)  # paired: same pairs resampled
    return AccuracyRow(name, len(opencv), size, cv_ci.value, cv_ci.half_width, torch_ci.value, torch_ci.half_width,
                       ratio.value, (ratio.low, ratio.high), between)  # fmt: skip


def _rate(run: Callable[[], object], pairs: int) -> float:
    start = time.perf_counter()
    run()
    return pairs / (time.perf_counter() - start)


def speed_rows(pairs: GreyPairs, cfg: PerfTVL1Config) -> list[SpeedRow]:
    """Pairs/s of OpenCV and torch (batch 1 and the best of ``cfg.batches``) on the same pairs and threads."""
    import cv2
    import torch

    n = len(pairs.first)
    cv2.setNumThreads(cfg.threads)
    torch.set_num_threads(cfg.threads)
    opencv = _rate(lambda: opencv_flows(pairs, cfg.params), n)
    rows = [SpeedRow("opencv", "cpu", 1, opencv, 1.0)]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for batch in (1, *cfg.batches):
            warm = GreyPairs(pairs.first[:batch], pairs.second[:batch], None, None)
            torch_flows(warm, cfg.params, device, cfg.compile, batch)  # compile / CUDA context outside the timing

            def run(b=batch, d=device):
                torch_flows(pairs, cfg.params, d, cfg.compile, b)
                if d == "cuda":
                    torch.cuda.synchronize()

            rate = _rate(run, n)
            rows.append(SpeedRow("torch", device, batch, rate, rate / opencv))
    return rows


class PerfTVL1Result(NamedTuple):
    accuracy: list[AccuracyRow]
    speed: list[SpeedRow]
    notes: list[str]
    load: tuple[float, float]  # 1-min load average before and after


def run_perf_tvl1(cfg: PerfTVL1Config, progress: Callable[[str], None] = lambda _: None) -> PerfTVL1Result:
    import cv2
    import torch

    load_before = os.getloadavg()[0]
    cv2.setNumThreads(cfg.threads)
    torch.set_num_threads(cfg.threads)
    sets: list[tuple[str, GreyPairs]] = []
    notes: list[str] = []
    if cfg.synthetic_root is not None:
        sets.append(("synthetic test", synthetic_pairs(cfg.synthetic_root, cfg.synthetic_pairs)))
    else:
        notes.append("no synthetic dataset: its row is left out (pass --root with a synthetic/ folder)")
    if cfg.realdata is not None:
        sets.append(("Middlebury", middlebury_pairs(cfg.realdata)))
        ucf = ucf_pairs(cfg.realdata, cfg.ucf_pairs)
        sets.append(("UCF-101 frames (no ground truth)", ucf))
    else:
        notes.append("no ../shared/realdata: the Middlebury, UCF-101 and speed rows are left out")
    rows = []
    for name, pairs in sets:
        progress(f"accuracy: {name}, {len(pairs.first)} pairs")
        opencv = opencv_flows(pairs, cfg.params)
        ours = torch_flows(pairs, cfg.params, "cpu", cfg.compile, max(cfg.batches))
        rows.append(accuracy_row(name, pairs, opencv, ours, cfg.seed))
    speed = []
    if cfg.realdata is not None:
        progress(f"speed: {len(ucf.first)} UCF-101 pairs at {UCF_SIZE[1]}x{UCF_SIZE[0]}")
        speed = speed_rows(ucf, cfg)
    return PerfTVL1Result(rows, speed, notes, (load_before, os.getloadavg()[0]))


def format_tables(result: PerfTVL1Result, cfg: PerfTVL1Config) -> str:
    fmt = lambda v, ci: "-" if v is None else f"{v:.3f} ± {ci:.3f}"  # noqa: E731
    lines = [f"## Dual TV-L1: OpenCV vs PyTorch, same parameters (OpenCV defaults unless overridden), "
             f"{cfg.threads} threads, torch.compile {'on' if cfg.compile else 'off'}\n",
             "| pairs | n | size | EPE OpenCV | EPE torch | torch / OpenCV (95% CI) | EPE between |",
             "|---|---:|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in result.accuracy:
        ratio = "-" if r.ratio is None else f"{r.ratio:.3f} ({r.ratio_ci95[0]:.3f}-{r.ratio_ci95[1]:.3f})"
        lines.append(f"| {r.pairs_name} | {r.pairs} | {r.size} | {fmt(r.epe_opencv, r.epe_opencv_ci95)} | "
                     f"{fmt(r.epe_torch, r.epe_torch_ci95)} | {ratio} | {r.between:.3f} |")  # fmt: skip
    if result.speed:
        where = f"{UCF_SIZE[1]}x{UCF_SIZE[0]}, one process, {cfg.threads} threads"
        lines += ["", f"Speed on the UCF-101 pairs at {where}:\n",
                  "| implementation | device | batch | pairs/s | vs OpenCV |", "|---|---|---:|---:|---:|"]  # fmt: skip
        for s in result.speed:
            lines.append(f"| {s.impl} | {s.device} | {s.batch} | {s.pairs_per_s:.2f} | {s.vs_opencv:.2f}x |")
        best = max((s for s in result.speed if s.impl == "torch" and s.device == "cpu"), key=lambda s: s.pairs_per_s)
        lines.append(f"\nbest torch on cpu: batch {best.batch}, {best.vs_opencv:.2f}x OpenCV's pairs/s")
        if not any(s.device == "cuda" for s in result.speed):
            lines.append("no CUDA device visible to torch: no GPU row (run this on a GPU machine for it)")
    lines += [f"note: {n}" for n in result.notes]
    lines.append(f"load average (1 min) before / after: {result.load[0]:.2f} / {result.load[1]:.2f}")
    return "\n".join(lines)
