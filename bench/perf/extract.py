"""``ufsn-bench perf extract``: extract vs the ffmpeg command line, torchcodec vs decord, TV-L1 parallel efficiency.

Both sides get the same cores: extract runs ``workers`` processes with one OpenCV thread each,
ffmpeg runs ``workers`` concurrent processes with ``-threads 1`` each, on the same videos, to
JPEGs of the same size (bilinear scaling on both sides) and comparable quality.

JPEG quality: libjpeg's ``quality`` and ffmpeg's ``-q:v`` (MJPEG qscale) are different scales, so
``-q:v`` is chosen by measurement: the qscale whose mean JPEG size on the first video is closest
to extract's at ``--quality`` (equal bits per frame = equal quality for the same encoder family).

Decoders: extract runs once with decord (the baseline) and once with ``--decoder torchcodec``, and each
decoder alone (``FrameStream`` over every video, one process, no resizing or JPEG) is timed too: extract's
ratio says what a user gains, the decode-only ratio what the decoder itself gains.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pipeline.frame_size import FrameSize
from pipeline.readers.decoders import load_torchcodec
from pipeline.readers.video import FrameStream, find_videos
from pipeline.steps.extract import ExtractConfig, run_extract
from pipeline.steps.tvl1.step import TVL1Config, run_tvl1

QSCALES = (1, 2, 3, 4, 5)  # ffmpeg MJPEG qscale candidates (1 needs -qmin 1)


@dataclass(frozen=True)
class PerfExtractConfig:
    """Options of ``ufsn-bench perf extract``."""

    videos: Path  # folder of <Class>/<video>.avi
    size: FrameSize = FrameSize(340, 256)  # TSN's UCF-101 size
    quality: int = 95  # extract's JPEG quality
    workers: int = 2  # processes on both sides (one thread each)
    repeats: int = 2  # best of N timings
    tvl1_pairs: int = 16  # TV-L1 pairs timed with 1 and with 2 workers
    ffmpeg: str | None = None  # ffmpeg binary; None = system ffmpeg, else imageio-ffmpeg's


class PerfRow(NamedTuple):
    step: str
    method: str
    processes: int
    items: int  # frames or pairs
    seconds: float

    @property
    def rate(self) -> float:
        return self.items / self.seconds


@dataclass(frozen=True)
class PerfRows:
    """The rows of one run by name, so every ratio reads the row it means; ``None``: torchcodec not measured."""

    extract: PerfRow  # extract with decord, the baseline
    extract_torchcodec: PerfRow | None
    ffmpeg: PerfRow  # the ffmpeg CLI on the same videos and cores
    decode: PerfRow  # decord alone
    decode_torchcodec: PerfRow | None
    tvl1_one: PerfRow  # TV-L1 with 1 worker
    tvl1_many: PerfRow  # TV-L1 with ``workers`` workers

    def in_order(self) -> list[PerfRow]:
        """The measured rows in table order."""
        rows = [self.extract, self.extract_torchcodec, self.ffmpeg, self.decode, self.decode_torchcodec,
                self.tvl1_one, self.tvl1_many]  # fmt: skip
        return [row for row in rows if row is not None]


class PerfExtractResult(NamedTuple):
    rows: PerfRows
    qscale: int
    ours_kb: float  # mean JPEG size of extract's frames
    ffmpeg_kb: float  # mean JPEG size of ffmpeg's frames at qscale
    extract_ratio: float  # extract frames/s / ffmpeg frames/s
    torchcodec_extract_ratio: float | None  # extract frames/s with torchcodec / with decord; None: not measured
    torchcodec_decode_ratio: float | None  # decode-only frames/s, torchcodec / decord; None: not measured
    torchcodec_note: str  # why torchcodec was not measured ("" when it was)
    tvl1_efficiency: float  # pairs/s(workers) / (workers * pairs/s(1))
    videos: int
    cpu_count: int
    ffmpeg_binary: str
    load: tuple[float, float]  # 1-minute load average before and after: other jobs depress every figure


def ffmpeg_binary(explicit: str | None) -> str:
    """The ffmpeg to benchmark against: explicit, else the system one, else imageio-ffmpeg's."""
    if explicit:
        return explicit
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg_one(binary: str, video: Path, out: Path, size: tuple[int, int], qscale: int) -> int:
    out.mkdir(parents=True, exist_ok=True)
    command = [binary, "-nostdin", "-v", "error", "-threads", "1", "-i", str(video), "-threads", "1"]
    # passthrough: ffmpeg's default constant-frame-rate muxing would duplicate frames (409 for the 408-frame
    # HMDB-51 clip), i.e. write more frames than decode.
    command += ["-vf", f"scale={size[0]}:{size[1]}:flags=bilinear", "-fps_mode", "passthrough"]
    command += ["-qmin", "1", "-q:v", str(qscale)]
    command += ["-start_number", "1", str(out / "img_%05d.jpg")]
    subprocess.run(command, check=True, capture_output=True)
    return len(list(out.iterdir()))


def _ffmpeg_all(binary: str, videos: list[Path], out: Path, size, qscale: int, workers: int) -> int:
    with ThreadPoolExecutor(workers) as pool:
        counts = pool.map(lambda v: _ffmpeg_one(binary, v, out / v.stem, size, qscale), videos)
        return sum(counts)


def _mean_kb(folder: Path) -> float:
    sizes = [p.stat().st_size for p in folder.rglob("*.jpg")]
    return statistics.fmean(sizes) / 1024


def _timed(func) -> tuple[float, object]:
    start = time.perf_counter()
    value = func()
    return time.perf_counter() - start, value


def _time_extract(config: PerfExtractConfig, tmp: Path, decoder: str, progress: bool) -> tuple[float, Path]:
    """Best time of ``config.repeats`` extract runs (after warm-ups) and the frames folder of the first timed one."""
    # Warm-ups: page cache, worker pool start. torchcodec needs two: its workers import torch (~0.7 GB), and
    # loky restarts a worker whose memory grew 300 MB past what it held after its first task (a decord one
    # here), so the restarted workers import torch once more in the second run.
    warmups = 2 if decoder == "torchcodec" else 1
    times = []
    for repeat in range(config.repeats + warmups):
        # A fresh root each time, as ffmpeg gets fresh folders: no --force deletion is timed.
        extract_config = ExtractConfig(
            root=tmp / decoder / f"run{repeat}", dataset="bench", videos=config.videos, size=config.size,
            quality=config.quality, decoder=decoder, workers=config.workers,
        )  # fmt: skip
        seconds, _ = _timed(lambda c=extract_config: run_extract(c, progress=progress))
        if repeat >= warmups:
            times.append(seconds)
    return min(times), tmp / decoder / f"run{warmups}" / "bench" / "frames"


def _time_decode(videos: list[Path], decoder: str, repeats: int) -> tuple[float, int]:
    """Best time of decoding every frame of ``videos`` in this process (after a warm-up), and the frames."""
    times, frames = [], 0
    for repeat in range(repeats + 1):
        start = time.perf_counter()
        frames = sum(sum(1 for _ in FrameStream(video, decoder)) for video in videos)
        if repeat:
            times.append(time.perf_counter() - start)
    return min(times), frames


def _pair_dataset(frames: Path, target: Path, pairs: int, per_folder: int = 2) -> int:
    """Frame folders of ``per_folder + 1`` consecutive frames cut from the extracted videos; returns the pairs."""
    sources = [(p, len(list(p.iterdir()))) for p in sorted(frames.iterdir()) if p.is_dir()]
    made = chunk = 0
    while made < pairs:
        progressed = False
        for folder, count in sources:
            first = 1 + chunk * per_folder
            if made >= pairs or first + per_folder > count:
                continue
            dest = target / f"{folder.name}_{chunk:03d}"
            dest.mkdir(parents=True)
            for i in range(per_folder + 1):
                shutil.copy2(folder / f"img_{first + i:05d}.jpg", dest / f"img_{i + 1:05d}.jpg")
            made += per_folder
            progressed = True
        if not progressed:
            break
        chunk += 1
    return made


def _frame_count(frames_dir: Path) -> int:
    return sum(len(list(p.iterdir())) for p in frames_dir.iterdir() if p.is_dir())


def _extract_row(config: PerfExtractConfig, tmp: Path, decoder: str, progress: bool) -> tuple[PerfRow, Path]:
    """Extract's row with ``decoder`` and the frames folder it wrote."""
    seconds, frames_dir = _time_extract(config, tmp, decoder, progress)
    method = (f"ufsn-data extract (decord + OpenCV, q{config.quality})" if decoder == "decord"
              else f"ufsn-data extract --decoder {decoder} (q{config.quality})")  # fmt: skip
    return PerfRow("extract", method, config.workers, _frame_count(frames_dir), seconds), frames_dir


class FfmpegRun(NamedTuple):
    row: PerfRow
    qscale: int  # the -q:v whose JPEGs are closest in size to extract's
    kb: float  # mean JPEG size of ffmpeg's frames at qscale


def _ffmpeg_run(config: PerfExtractConfig, binary: str, videos: list[Path], tmp: Path, frames_dir: Path) -> FfmpegRun:
    """Pick ffmpeg's qscale on the first video (size closest to extract's), then time it on every video."""
    probe = videos[0]
    sizes = {}
    for q in QSCALES:
        _ffmpeg_one(binary, probe, tmp / "probe" / str(q), config.size, q)
        sizes[q] = _mean_kb(tmp / "probe" / str(q))
    ours_probe_kb = _mean_kb(frames_dir / probe.stem)
    qscale = min(QSCALES, key=lambda q: abs(sizes[q] - ours_probe_kb))
    times = []
    count = 0
    for repeat in range(config.repeats + 1):  # the first run is a warm-up
        out = tmp / "ffmpeg" / str(repeat)
        seconds, count = _timed(lambda out=out: _ffmpeg_all(binary, videos, out, config.size, qscale, config.workers))
        if repeat:
            times.append(seconds)
    row = PerfRow("extract", f"ffmpeg CLI (-q:v {qscale}, -threads 1)", config.workers, count, min(times))
    return FfmpegRun(row, qscale, _mean_kb(tmp / "ffmpeg" / "1"))


def _decode_row(videos: list[Path], decoder: str, repeats: int) -> PerfRow:
    """One decoder alone over every video, in this process."""
    seconds, frames = _time_decode(videos, decoder, repeats)
    return PerfRow("decode", f"{decoder} (FrameStream, native size)", 1, frames, seconds)


def _tvl1_rows(config: PerfExtractConfig, frames_dir: Path, tmp: Path, progress: bool) -> tuple[PerfRow, PerfRow]:
    """TV-L1 on pairs cut from the extracted frames, with 1 and with ``config.workers`` workers."""
    pairs = _pair_dataset(frames_dir, tmp / "pairs" / "frames", config.tvl1_pairs)

    def row(workers: int) -> PerfRow:
        tvl1_config = TVL1Config(root=tmp, dataset="pairs", workers=workers, force=True)
        # The joblib pool started by extract is reused (loky keeps it), so no spawn cost is timed.
        seconds, _ = _timed(lambda: run_tvl1(tvl1_config, progress=progress))
        return PerfRow("tvl1", "OpenCV Dual TV-L1 (CPU defaults)", workers, pairs, seconds)

    one = row(1)
    return one, row(config.workers)


def _torchcodec_note() -> str:
    """Why torchcodec cannot be measured here; "" when it can."""
    try:
        load_torchcodec()
    except RuntimeError as exc:  # FFmpeg's shared libraries (or torchcodec) missing: the other rows still run
        return str(exc)
    return ""


def run_perf_extract(config: PerfExtractConfig, progress: bool = False) -> PerfExtractResult:
    """Time extract (decord, torchcodec) vs ffmpeg, each decoder alone, and TV-L1 with 1 vs ``workers`` workers."""
    # Largest first, as extract orders its tasks, so neither side pays a long video at the tail.
    videos = sorted(find_videos(config.videos), key=lambda v: -v.stat().st_size)
    if not videos:
        raise FileNotFoundError(f"no videos under {config.videos}/<Class>/")
    binary = ffmpeg_binary(config.ffmpeg)
    load_before = os.getloadavg()[0]
    torchcodec_note = _torchcodec_note()
    with_torchcodec = not torchcodec_note
    with tempfile.TemporaryDirectory(prefix="ufsn-perf-") as tmp_name:
        tmp = Path(tmp_name)
        extract, frames_dir = _extract_row(config, tmp, "decord", progress)
        ours_kb = _mean_kb(frames_dir)
        extract_tc = _extract_row(config, tmp, "torchcodec", progress)[0] if with_torchcodec else None
        ffmpeg = _ffmpeg_run(config, binary, videos, tmp, frames_dir)
        decode = _decode_row(videos, "decord", config.repeats)
        decode_tc = _decode_row(videos, "torchcodec", config.repeats) if with_torchcodec else None
        tvl1_one, tvl1_many = _tvl1_rows(config, frames_dir, tmp, progress)
    rows = PerfRows(extract, extract_tc, ffmpeg.row, decode, decode_tc, tvl1_one, tvl1_many)
    return PerfExtractResult(
        rows,
        ffmpeg.qscale,
        ours_kb,
        ffmpeg.kb,
        extract_ratio=extract.rate / ffmpeg.row.rate,
        torchcodec_extract_ratio=extract_tc.rate / extract.rate if extract_tc else None,
        torchcodec_decode_ratio=decode_tc.rate / decode.rate if decode_tc else None,
        torchcodec_note=torchcodec_note,
        tvl1_efficiency=tvl1_many.rate / (config.workers * tvl1_one.rate),
        videos=len(videos),
        cpu_count=os.cpu_count() or 0,
        ffmpeg_binary=binary,
        load=(load_before, os.getloadavg()[0]),
    )


def format_table(result: PerfExtractResult, config: PerfExtractConfig) -> str:
    """Markdown table of the rows with the ratios measured in the same run."""
    import cv2

    w, h = config.size
    lines = [
        f"device: cpu ({result.cpu_count} cores), OpenCV {cv2.__version__}, one thread per process; "
        f"{result.videos} videos, frames {w}x{h}; ffmpeg: {result.ffmpeg_binary}",
        f"load average (1 min) before / after: {result.load[0]:.2f} / {result.load[1]:.2f} "
        f"(> {result.cpu_count} means other processes shared these cores)",
        f"JPEG: extract quality {config.quality} -> {result.ours_kb:.1f} KiB/frame; "
        f"ffmpeg -q:v {result.qscale} (closest mean size) -> {result.ffmpeg_kb:.1f} KiB/frame",
        "",
        "| step | method | processes x threads | items | seconds | items/s |",
        "|---|---|---|---|---|---|",
    ]
    for row in result.rows.in_order():
        unit = "pairs" if row.step == "tvl1" else "frames"
        cells = [
            row.step,
            row.method,
            f"{row.processes} x 1",
            f"{row.items} {unit}",
            f"{row.seconds:.2f}",
            f"{row.rate:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"extract / ffmpeg frames/s: {result.extract_ratio:.2f}x (target >= 1.0)",
        (
            f"torchcodec / decord frames/s: extract {result.torchcodec_extract_ratio:.3g}x, "
            f"decode only {result.torchcodec_decode_ratio:.3g}x"
            if result.torchcodec_extract_ratio is not None
            else f"torchcodec: not measured ({result.torchcodec_note})"
        ),
        f"TV-L1 parallel efficiency on {config.workers} workers: {result.tvl1_efficiency:.2f} (target >= 0.85)",
    ]
    return "\n".join(lines)
