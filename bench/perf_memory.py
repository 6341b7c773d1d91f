"""Peak memory of the data steps on N vs 10N videos: does a step's footprint grow with the dataset?

Each step runs as ``ufsn-data <step>`` in a child process; a sampler polls the RSS of that
process and all its descendants (joblib workers) with psutil. Two peaks per run: the largest
single process, and the sum over the tree at one instant (what the machine must hold). A
step whose memory is bounded shows ratios near 1.0 between the large and the small run.
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

from pipeline.frame_size import FrameSize

STEPS = ("extract", "tvl1", "shards")
MIB = 1024 * 1024


@dataclass(frozen=True)
class PerfMemoryConfig:
    """Options of ``ufsn-bench perf memory``."""

    work: Path  # scratch folder; two data roots are made in it
    small: int = 10  # videos in the baseline run
    large: int = 100  # videos in the compared run
    frames: int = 8  # frames per synthetic video
    size: FrameSize = FrameSize(64, 64)  # of the synthetic videos
    workers: int = 2  # --workers of every step
    interval: float = 0.02  # seconds between RSS samples


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


def write_videos(videos: Path, count: int, frames: int, size: tuple[int, int]) -> None:
    """``count`` MJPG AVIs of moving noise under ``videos/A/`` (one rendered, the rest copies)."""
    import cv2

    first = videos / "A" / "v_0000.avi"
    first.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    width, height = size
    texture = rng.integers(0, 256, (height, width + 2 * frames, 3), dtype=np.uint8)
    writer = cv2.VideoWriter(str(first), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    for t in range(frames):
        writer.write(np.ascontiguousarray(texture[:, 2 * t : 2 * t + width]))  # (H, W, 3) BGR
    writer.release()
    for i in range(1, count):
        shutil.copyfile(first, videos / "A" / f"v_{i:04d}.avi")


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
    """Peak RSS of extract, tvl1 and shards on ``small`` and ``large`` videos."""
    peaks: dict[tuple[str, int], Peak] = {}
    for count in (config.small, config.large):
        root = Path(config.work) / f"videos{count}"
        if root.exists():
            shutil.rmtree(root)
        write_videos(root / "d" / "videos", count, config.frames, config.size)
        for step in STEPS:
            args = [sys.executable, "-c", "from pipeline.cli import main; main()", step, "--root", str(root)]
            args += ["--dataset", "d"] + (["--workers", str(config.workers)] if step != "shards" else [])
            peaks[step, count] = sample_peak(args, config.interval)
    return [MemoryRow(step, peaks[step, config.small], peaks[step, config.large]) for step in STEPS]


def format_table(rows: list[MemoryRow], config: PerfMemoryConfig) -> str:
    """Markdown table: peak RSS (MiB) of the largest process and of the tree, with large/small ratios."""
    n, m = config.small, config.large
    lines = [
        f"peak RSS, {config.workers} workers (shards: 1 process), videos of {config.frames} frames "
        f"{config.size[0]}x{config.size[1]}",
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
