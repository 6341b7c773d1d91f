"""Loader benchmark: the same TSN sampler over HDF5 shards vs JPEG frame folders, warm and cold.

Both sources go through one ClipDataset and DataLoader configuration, with the same torch seed,
so they read the same snippets; only the reader differs. "Cold" evicts every file of the source
from the page cache first (posix_fadvise DONTNEED after fsync, so clean pages really go).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pipeline.storage.paths import DatasetPaths

SOURCES = ("frames", "shards")


@dataclass(frozen=True)
class LoaderBenchConfig:
    """Options of ``ufsn-bench perf loader``."""

    root: Path = Path("data")
    dataset: str = "synthetic"
    modalities: tuple[str, ...] = ("rgb", "flow")
    workers: int = 2
    segments: int = 3  # K
    size: int = 224  # crop side, px
    batch: int = 8
    epochs: int = 1  # passes over every video in the warm measurement (the cold one makes one)
    seed: int = 0


class Footprint(NamedTuple):
    """Disk use of one source."""

    files: int
    bytes: int  # allocated (st_blocks * 512): what the filesystem really spends, small-file slack included
    apparent: int  # sum of file sizes


class Measurement(NamedTuple):
    """Clips per second of one source and modality."""

    source: str
    modality: str
    warm: float
    cold: float


def source_files(paths: DatasetPaths, source: str) -> list[Path]:
    """Every file a source reads: frames/ + tvl1/ JPEGs, or the shard files + index."""
    if source == "shards":
        return sorted(paths.shards.glob("shard-*.h5")) + [paths.shards / "index.csv"]
    files = []
    for folder in (paths.frames, paths.tvl1):
        for dirpath, _, names in os.walk(folder):
            files += [Path(dirpath) / n for n in names if n.endswith((".jpg", ".png"))]
    return files


def footprint(files: list[Path]) -> Footprint:
    """Count, allocated bytes and apparent bytes of ``files``."""
    stats = [f.stat() for f in files]
    return Footprint(len(files), sum(s.st_blocks * 512 for s in stats), sum(s.st_size for s in stats))


def evict(files: list[Path]) -> None:
    """Drop ``files`` from the page cache (needs no privileges, unlike drop_caches)."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def clips_per_second(config: LoaderBenchConfig, source: str, modality: str, videos, passes: int) -> float:
    """Time ``passes`` passes over ``videos`` through one DataLoader (one worker start-up); returns clips/s."""
    import torch

    from ufsn.tsn.data import ClipConfig, ClipDataset, open_reader, worker_options

    dataset = ClipDataset(
        open_reader(config.root, config.dataset, source),
        list(videos) * passes,
        ClipConfig(modality=modality, segments=config.segments, size=config.size),
    )
    torch.manual_seed(config.seed)  # same snippets and crops for both sources
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=config.batch, shuffle=True, **worker_options(config.workers)
    )
    start = time.perf_counter()
    clips = 0
    for batch in loader:
        clips += len(batch["video_id"])
    return clips / (time.perf_counter() - start)


def run_loader_bench(config: LoaderBenchConfig) -> tuple[list[Measurement], dict[str, Footprint]]:
    """Warm and cold clips/s of every source and modality, and each source's disk footprint."""
    from pipeline.readers.shard import read_index

    paths = DatasetPaths(Path(config.root), config.dataset)
    index = read_index(paths.shards / "index.csv")
    videos = [(row.video_id, row.label) for row in index if paths.frame_dir(row.video_id).is_dir()]
    if not videos:
        raise ValueError(f"{paths.base}: no video has both a shard entry and a frames folder")
    files = {source: source_files(paths, source) for source in SOURCES}
    results = []
    for modality in config.modalities:
        for source in SOURCES:
            evict(files[source])
            cold = clips_per_second(config, source, modality, videos, 1)  # every file read once, from disk
            clips_per_second(config, source, modality, videos, 1)  # make sure everything is cached
            warm = clips_per_second(config, source, modality, videos, config.epochs)
            results.append(Measurement(source, modality, warm, cold))
    return results, {source: footprint(files[source]) for source in SOURCES}


def format_table(config: LoaderBenchConfig, results: list[Measurement], disk: dict[str, Footprint]) -> str:
    """Markdown table with shards/frames ratios (throughput: higher is better; disk: lower)."""
    by = {(m.source, m.modality): m for m in results}
    lines = [
        f"loader benchmark: {config.dataset}, {config.workers} DataLoader workers (1 thread each), "
        f"K={config.segments}, crop {config.size}x{config.size}, batch {config.batch}, CPU decode (OpenCV)",
        "",
        "| measure | frame folders | shards | shards / folders |",
        "|---|---:|---:|---:|",
    ]
    for modality in config.modalities:
        for kind in ("warm", "cold"):
            a, b = getattr(by["frames", modality], kind), getattr(by["shards", modality], kind)
            lines.append(f"| {modality} clips/s {kind} | {a:.1f} | {b:.1f} | {b / a:.2f}x |")
    f, s = disk["frames"], disk["shards"]
    lines.append(f"| bytes on disk (allocated) | {f.bytes:,} | {s.bytes:,} | {s.bytes / f.bytes:.3f}x |")
    lines.append(f"| bytes (file sizes) | {f.apparent:,} | {s.apparent:,} | {s.apparent / f.apparent:.3f}x |")
    lines.append(f"| files | {f.files:,} | {s.files:,} | {s.files / f.files:.5f}x |")
    return "\n".join(lines)
