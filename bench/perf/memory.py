"""Peak memory of the data steps and of training on N vs 10N videos: does a footprint grow with the dataset?

The videos are named as UCF-101's (two of its classes, groups g01..g25) and have different lengths,
as UCF-101's clips do. Each step runs as a command in a child process: ``ufsn-data extract | tvl1 |
shards`` (then ``splits``, not measured), ``ufsn-bench train-flow`` (stage 1 streaming every training
pair, a fixed number of steps) and ``ufsn-bench train --method rgb`` (stream training, a fixed number of
batches, then the test split). A sampler polls the RSS of that process and all its descendants (joblib
and DataLoader workers) with psutil. Two peaks per run: the largest single process, and the sum over the
tree at one instant (what the machine must hold). A step whose memory is bounded shows ratios near 1.0
between the large and the small run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pipeline.api import DatasetPaths
from pipeline.frame_size import FrameSize

DATA_STEPS = ("extract", "tvl1", "shards")
TRAIN_STEPS = ("stage 1", "stream training")
STEPS = DATA_STEPS + TRAIN_STEPS
DATASET = "ucf101"  # UCF-101's names and split rule; the frames are moving noise
CLASSES = ("ApplyEyeMakeup", "ApplyLipstick")  # two of UCF-101's classes
LENGTHS = 4  # distinct clip lengths, evenly spaced from frames to max_frames
MIB = 1024 * 1024


@dataclass(frozen=True)
class PerfMemoryConfig:
    """Options of ``ufsn-bench perf memory``."""

    work: Path  # scratch folder; two data roots are made in it
    small: int = 10  # videos in the baseline run
    large: int = 100  # videos in the compared run
    frames: int = 8  # frames of the shortest video
    size: FrameSize = FrameSize(64, 64)  # of the videos (the tiny configs crop 48x48 from them)
    workers: int = 2  # --workers of every data step and DataLoader workers of training
    interval: float = 0.02  # seconds between RSS samples
    max_frames: int = 32  # frames of the longest video (UCF-101's clips run from 29 to 1,776 frames)
    train_steps: int = 20  # stage-1 steps and stream-training batches, the same at N and 10N videos

    def __post_init__(self):
        if self.max_frames < self.frames:
            raise ValueError(f"max_frames ({self.max_frames}) is below frames ({self.frames})")
        if self.large > 50 * 99:
            raise ValueError(f"at most {50 * 99} videos (2 classes x 25 groups x 99 clips), asked for {self.large}")


class Peak(NamedTuple):
    """Peak RSS of one step run, in bytes."""

    largest: int  # the largest single process at any sample
    tree: int  # the largest sum over the process tree at one sample
    seconds: float


class MemoryRow(NamedTuple):
    """One step on the small and on the large dataset."""

    step: str
    small: Peak
    large: Peak


def clip_lengths(frames: int, max_frames: int) -> list[int]:
    """The distinct clip lengths: ``LENGTHS`` values evenly spaced from ``frames`` to ``max_frames``."""
    return sorted({round(v) for v in np.linspace(frames, max_frames, LENGTHS)})


def ucf_video_name(i: int) -> tuple[str, str]:
    """(class, video id) of the i-th video: classes alternate; groups cycle over g01..g25, so every split
    has train, val and test videos at any count; clips count up every 50 videos (names stay unique)."""
    cls = CLASSES[i % len(CLASSES)]
    return cls, f"v_{cls}_g{1 + (11 * i) % 25:02d}_c{1 + i // 50:02d}"


def write_videos(videos: Path, count: int, frames: int, size: tuple[int, int], max_frames: int | None = None) -> None:
    """``count`` MJPG AVIs of moving noise under ``videos/<class>/``, UCF-101 style, of lengths cycling
    through :func:`clip_lengths` (one rendered per length, the rest copies)."""
    import cv2

    rng = np.random.default_rng(0)
    width, height = size
    lengths = clip_lengths(frames, max_frames or frames)
    rendered = []
    for length in lengths:
        path = videos.parent / ".rendered" / f"{length}.avi"
        path.parent.mkdir(parents=True, exist_ok=True)
        noise = rng.integers(0, 256, (height, width + 2 * length, 3), dtype=np.uint8)
        # blurred as natural images are: OpenCV's TV-L1 runs all its iterations (~12 s a pair) on raw noise
        texture = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 2.0), None, 0, 255, cv2.NORM_MINMAX)
        writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
        for t in range(length):
            writer.write(np.ascontiguousarray(texture[:, 2 * t : 2 * t + width]))  # (H, W, 3) BGR
        writer.release()
        rendered.append(path)
    for i in range(count):
        cls, vid = ucf_video_name(i)
        (videos / cls).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rendered[i % len(rendered)], videos / cls / f"{vid}.avi")
    shutil.rmtree(videos.parent / ".rendered")


def step_command(step: str, root: Path, config: PerfMemoryConfig) -> list[str]:
    """The command line that runs ``step`` on the data root ``root``."""
    common = ["--root", str(root), "--dataset", DATASET]
    if step in DATA_STEPS or step == "splits":
        workers = ["--workers", str(config.workers)] if step in ("extract", "tvl1") else []
        return [sys.executable, "-c", "from pipeline.cli import main; main()", step, *common, *workers]
    bench = [sys.executable, "-c", "from bench.cli import main; main()"]
    if step == "stage 1":
        return [*bench, "train-flow", *common, "--config", "flow_tiny", "--no-progress",
                "--set", f"steps={config.train_steps}", "--set", f"workers={config.workers}"]  # fmt: skip
    if step == "stream training":
        return [*bench, "train", *common, "--config", "tiny", "--method", "rgb", "--no-progress",
                "--set", f"input.max_iters={config.train_steps}",
                "--set", f"input.workers={config.workers}"]  # fmt: skip
    raise ValueError(f"unknown step {step!r}; valid: {', '.join(STEPS)}")


def sample_peak(args: list[str], interval: float) -> Peak:
    """Run ``args`` and poll the RSS of it and its descendants until it exits; error if it fails."""
    import psutil

    start = time.perf_counter()
    proc = psutil.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    largest = tree = 0
    while proc.poll() is None:
        rss = []
        try:
            members = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for member in members:
            try:
                rss.append(member.memory_info().rss)
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                pass  # exited between listing and sampling
        largest, tree = max(largest, max(rss, default=0)), max(tree, sum(rss))
        time.sleep(interval)
    output = proc.stdout.read().decode(errors="replace")
    if proc.wait() != 0:
        raise RuntimeError(f"{' '.join(args)} failed (exit {proc.returncode}):\n{output[-2000:]}")
    return Peak(largest, tree, time.perf_counter() - start)


def run_perf_memory(config: PerfMemoryConfig) -> list[MemoryRow]:
    """Peak RSS of every step in ``STEPS`` on ``small`` and ``large`` videos."""
    peaks: dict[tuple[str, int], Peak] = {}
    for count in (config.small, config.large):
        root = Path(config.work) / f"videos{count}"
        if root.exists():
            shutil.rmtree(root)
        write_videos(DatasetPaths(root, DATASET).videos, count, config.frames, config.size, config.max_frames)
        for step in (*DATA_STEPS, "splits", *TRAIN_STEPS):
            peak = sample_peak(step_command(step, root, config), config.interval)
            if step != "splits":
                peaks[step, count] = peak
    return [MemoryRow(step, peaks[step, config.small], peaks[step, config.large]) for step in STEPS]


def format_table(rows: list[MemoryRow], config: PerfMemoryConfig) -> str:
    """Markdown table: peak RSS (MiB) of the largest process and of the tree, with large/small ratios."""
    n, m = config.small, config.large
    lines = [
        f"peak RSS, {config.workers} workers (shards: 1 process), videos of {config.frames} to {config.max_frames} "
        f"frames at {config.size[0]}x{config.size[1]}; stage 1 and stream training {config.train_steps} steps each",
        "",
        f"| step | largest, {n} videos | largest, {m} videos | ratio | tree, {n} videos | tree, {m} videos | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        s, b = row.small, row.large
        lines.append(
            f"| {row.step} | {s.largest / MIB:.1f} MiB | {b.largest / MIB:.1f} MiB | {b.largest / s.largest:.2f} "
            f"| {s.tree / MIB:.1f} MiB | {b.tree / MIB:.1f} MiB | {b.tree / s.tree:.2f} |"
        )
    return "\n".join(lines)
