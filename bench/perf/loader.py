"""Loader benchmark: the same TSN sampler over HDF5 shards vs JPEG frame folders, warm and cold.

Both sources go through one ClipDataset and DataLoader configuration, with the same torch seed,
so they read the same snippets; only the reader differs. "Cold" evicts every file of the source
from the page cache first (posix_fadvise DONTNEED after fsync, so clean pages really go), and checks
that it worked: the bytes fetched from the block device during the cold pass (``/proc/self/io``
``read_bytes``) must be a fair share of the bytes the pass read (``rchar``), else the table says that
the cache could not be dropped (a filesystem that ignores the advice, a tmpfs) instead of a ratio.
A disk that the host of a VM caches still counts as read: the guest sees only its own block device.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
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


class IOCounters(NamedTuple):
    """Read counters of this process and its reaped children (``/proc/self/io``), bytes."""

    device: int  # read_bytes: fetched from the block device on our behalf
    requested: int  # rchar: passed through read() calls (the files, and what the workers send through pipes)


# A pass is cold when the device supplied at least this share of the bytes it read. A cached pass fetches
# (almost) nothing; a cold one fetches each page once but may read it more than once (snippets that overlap in
# short videos, HDF5 metadata), and rchar also counts the workers' batches coming through pipes: on the tiny
# set the cold passes fetched 0.3-2.5x what they read, so the bar sits well below one.
COLD_SHARE = 0.1


class ColdRead(NamedTuple):
    """Bytes of one cold pass: fetched from the device, and read through read() calls."""

    device: int
    requested: int

    @property
    def cold(self) -> bool:
        """Whether the pass really read from the device (see ``COLD_SHARE``)."""
        return self.device > 0 and self.device >= COLD_SHARE * self.requested


class Measurement(NamedTuple):
    """Clips per second of one source and modality."""

    source: str
    modality: str
    warm: float
    cold: float
    cold_read: ColdRead  # what the cold pass read from the device: it was cold only if that is most of it


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


def proc_io_counters() -> IOCounters:
    """``read_bytes`` and ``rchar`` of ``/proc/self/io`` (Linux; a reaped child's counts are added to its parent's)."""
    values = {}
    with open("/proc/self/io", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            values[key] = int(value)
    return IOCounters(values["read_bytes"], values["rchar"])


def clips_per_second(config: LoaderBenchConfig, source: str, modality: str, videos, passes: int) -> float:
    """Time ``passes`` passes over ``videos`` through one DataLoader (one worker start-up); returns clips/s."""
    import torch

    from ufsn.tsn.data import ClipConfig, ClipDataset, open_reader
    from ufsn.workers import worker_options

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


def run_loader_bench(
    config: LoaderBenchConfig, io_counters: Callable[[], IOCounters] = proc_io_counters
) -> tuple[list[Measurement], dict[str, Footprint]]:
    """Warm and cold clips/s of every source and modality, and each source's disk footprint.

    ``io_counters`` is read before and after each cold pass (tests pass a fake one).
    """
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
            # /proc/self/io counts reaped children too, and the DataLoader joins its workers when the pass ends.
            before = io_counters()
            cold = clips_per_second(config, source, modality, videos, 1)  # every file read once, from disk
            after = io_counters()
            cold_read = ColdRead(after.device - before.device, after.requested - before.requested)
            clips_per_second(config, source, modality, videos, 1)  # make sure everything is cached
            warm = clips_per_second(config, source, modality, videos, config.epochs)
            results.append(Measurement(source, modality, warm, cold, cold_read))
    return results, {source: footprint(files[source]) for source in SOURCES}


def _cold_ratio(frames: Measurement, shards: Measurement) -> str:
    """The ratio cell of a cold row: the ratio when both passes read from the device, else why not."""
    reads = [(name, m.cold_read) for name, m in (("frames", frames), ("shards", shards))]
    if all(read.cold for _, read in reads):
        fetched = ", ".join(f"{name} {read.device:,} B" for name, read in reads)
        return f"{shards.cold / frames.cold:.2f}x (read from disk: {fetched})"
    fetched = ", ".join(f"{name} {read.device:,} of {read.requested:,} B" for name, read in reads)
    return f"cache could not be dropped (read from disk: {fetched})"


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
        frames, shards = by["frames", modality], by["shards", modality]
        lines.append(f"| {modality} clips/s warm | {frames.warm:.1f} | {shards.warm:.1f} | "
                     f"{shards.warm / frames.warm:.2f}x |")  # fmt: skip
        lines.append(f"| {modality} clips/s cold | {frames.cold:.1f} | {shards.cold:.1f} | "
                     f"{_cold_ratio(frames, shards)} |")  # fmt: skip
    f, s = disk["frames"], disk["shards"]
    lines.append(f"| bytes on disk (allocated) | {f.bytes:,} | {s.bytes:,} | {s.bytes / f.bytes:.3f}x |")
    lines.append(f"| bytes (file sizes) | {f.apparent:,} | {s.apparent:,} | {s.apparent / f.apparent:.3f}x |")
    lines.append(f"| files | {f.files:,} | {s.files:,} | {s.files / f.files:.5f}x |")
    return "\n".join(lines)
