"""``ufsn-data extract``: videos -> 1-indexed JPEG frames, one atomic folder per video, resumable."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

from pipeline.frame_size import FrameSize
from pipeline.parallel import Backend, ParallelOptions, run_tasks
from pipeline.readers.decoders import Decoder, Device, check_available, check_choice
from pipeline.storage.atomic import atomic_dir, output_dir, remove_stale_temporaries
from pipeline.storage.claim import ClaimedStep, planned_identity, remove_stale_claims
from pipeline.storage.manifest import ManifestRow, StepSummary, read_manifest
from pipeline.storage.paths import DatasetPaths, frame_name
from pipeline.storage.resume import is_done, record_settings
from ufsn.choices import check_choices
from ufsn.errors import ConfigError, MissingInputError

STEP = "extract"
# TSN and CoViAR resize UCF-101/HMDB-51 frames to 340x256 (w x h) before cropping 224x224.
DEFAULT_SIZES: dict[str, FrameSize] = {"ucf101": FrameSize(340, 256), "hmdb51": FrameSize(340, 256)}
SETTINGS_FILE = "extract_config.json"


@dataclass(frozen=True)
class ExtractConfig:
    """Options of ``ufsn-data extract``."""

    root: Path = Path("data")
    dataset: str = "synthetic"
    videos: Path | None = None  # default: <root>/<dataset>/videos
    size: FrameSize | None = None  # None = 340x256 for ucf101/hmdb51, native otherwise
    short_side: int | None = None  # keep aspect, scale the short side to this (instead of size)
    native: bool = False  # keep the decoded size even for ucf101/hmdb51
    fps: float | None = None  # resample to this frame rate; None keeps every decoded frame
    quality: int = 95  # JPEG quality (libjpeg scale 1..100)
    allow_truncated: bool = False  # keep videos that decode more than one frame short of their header
    decoder: Decoder = "decord"  # decord | torchcodec (pipeline.readers.decoders)
    device: Device = "cpu"  # cpu | cuda: NVDEC, torchcodec only
    workers: int = 1
    backend: Backend = "local"
    scheduler: str | None = None  # dask scheduler address
    force: bool = False  # redo videos that are already done

    def __post_init__(self) -> None:
        if (self.size is not None) + (self.short_side is not None) + self.native > 1:
            raise ConfigError("choose one of size, short_side and native")
        if not 1 <= self.quality <= 100:
            raise ConfigError(f"quality must be in 1..100, got {self.quality}")
        if self.fps is not None and self.fps <= 0:
            raise ConfigError(f"fps must be positive, got {self.fps}")
        check_choices(self)
        check_choice(self.decoder, self.device)


class FrameSettings(NamedTuple):
    """What decides the bytes of a frame folder (sent to every worker)."""

    size: tuple[int, int] | None  # (W, H), None = native or short side
    short_side: int | None
    fps: float | None
    quality: int
    allow_truncated: bool
    decoder: Decoder  # another FFmpeg build (or NVDEC) may give other pixels
    device: Device


class ExtractTask(NamedTuple):
    video_id: str
    video: Path
    out: Path
    settings: FrameSettings
    seen: int = 0  # planned_identity(out, row) when planned: 0 with no row, else the folder's inode


def resolved_size(config: ExtractConfig) -> tuple[int, int] | None:
    """The explicit size, else the dataset's default (340x256 for ucf101/hmdb51), else None (native)."""
    if config.size is not None or config.short_side is not None or config.native:
        return config.size
    return DEFAULT_SIZES.get(config.dataset)


def frame_files(index: int) -> tuple[str, ...]:
    """File names that frame ``index`` (1-based) owns in a frame folder."""
    return (frame_name(index),)


def _write(path: Path, data) -> None:
    # Plain os.open/os.write: about half the per-file cost of Path.write_bytes for ~25 KB frames.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data).cast("B")
        while view:  # a regular-file write can still return short (signal, quota)
            view = view[os.write(fd, view) :]
    except OSError as exc:  # os.write names no file; a full disk should say where
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        os.close(fd)


def extract_video(task: ExtractTask) -> ManifestRow:
    """Decode one video and write its frames; raises ``VideoError`` with the manifest reason."""
    import cv2

    from pipeline.readers.video import FrameStream, check_complete, fps_repeats, output_size, resize

    start = time.perf_counter()
    s = task.settings
    try:
        stream = FrameStream(task.video, s.decoder, s.device)
        with atomic_dir(task.out) as tmp:
            written = 0
            params = [cv2.IMWRITE_JPEG_QUALITY, s.quality]
            target = None
            for index, rgb in enumerate(stream):
                if target is None:
                    target = output_size(rgb.shape[1], rgb.shape[0], s.size, s.short_side)
                repeats = fps_repeats(index, stream.fps, s.fps)
                if repeats == 0:
                    continue
                bgr = cv2.cvtColor(resize(rgb, target), cv2.COLOR_RGB2BGR)
                ok, data = cv2.imencode(".jpg", bgr, params)
                if not ok:
                    raise RuntimeError(f"JPEG encoding failed for frame {index + 1} of {task.video}")
                for _ in range(repeats):
                    written += 1
                    _write(tmp / frame_name(written), data)
            check_complete(stream.report, task.video, s.allow_truncated)
    except BaseException:
        # A failed video leaves no folder behind, not even one from an earlier successful run.
        if task.out.exists():
            shutil.rmtree(task.out, ignore_errors=True)
        raise
    return ManifestRow(task.video_id, "done", written, time.perf_counter() - start, stream.report.note)


def _settings_record(config: ExtractConfig, settings: FrameSettings) -> dict:
    import cv2

    record = {k: v for k, v in asdict(config).items() if k not in ("root", "videos", "force", "size")}
    record.update(settings._asdict())
    record["size"] = list(settings.size) if settings.size else None
    record["opencv_version"] = cv2.__version__
    if config.decoder == "torchcodec":
        from pipeline.readers.decoders import load_torchcodec

        record["torchcodec_version"] = load_torchcodec().version
    else:
        import decord

        record["decord_version"] = decord.__version__
    return record


def run_extract(config: ExtractConfig, progress: bool = True) -> StepSummary:
    """Extract the frames of every video of ``config.dataset``; resumes unless ``config.force``."""
    from pipeline.readers.video import VIDEO_EXTENSIONS, find_videos

    paths = DatasetPaths(config.root, config.dataset)
    source = Path(config.videos) if config.videos is not None else paths.videos
    videos = find_videos(source)
    if not videos:
        kinds = ", ".join(f"*{ext}" for ext in VIDEO_EXTENSIONS)
        raise MissingInputError(f"no videos ({kinds}) under {source}/<Class>/")
    check_available(config.decoder, config.device)  # here, once: not as a failed row for every video
    options = ParallelOptions(config.workers, config.backend, config.scheduler, progress)
    settings = FrameSettings(
        resolved_size(config), config.short_side, config.fps, config.quality, config.allow_truncated,
        config.decoder, config.device,
    )  # fmt: skip
    output_dir(paths.frames)
    # Records written before the decoder was a setting all came from decord on the CPU.
    record = _settings_record(config, settings)
    record_settings(paths.frames / SETTINGS_FILE, record, config.force, {"decoder": "decord", "device": "cpu"})
    remove_stale_temporaries(paths.frames)
    remove_stale_claims(paths.frames)
    manifest = paths.manifest_csv(STEP)
    previous = read_manifest(manifest)
    kept: dict[str, ManifestRow] = {}
    tasks = []
    for video in videos:
        vid = video.stem
        out = paths.frame_dir(vid)
        if not config.force and is_done(previous.get(vid), out, frame_files):
            kept[vid] = previous[vid]
        else:
            tasks.append(ExtractTask(vid, video, out, settings, planned_identity(out, previous.get(vid))))
    # Rows of videos outside this run (another --videos folder) stay in the manifest, uncounted.
    # Largest first (by bytes): a long video dispatched last would leave the other workers idle.
    tasks.sort(key=lambda task: -task.video.stat().st_size)
    current = {video.stem for video in videos}
    others = {vid: row for vid, row in previous.items() if vid not in current}
    # Claims: a second run started on the same dataset does the videos this one has not reached.
    step = ClaimedStep(extract_video, frame_files)
    return run_tasks(STEP, step, tasks, kept, manifest, options, others, then=step.waiting())
