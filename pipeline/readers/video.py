"""Video decoding: decord (OpenCV as a recorded fallback) or torchcodec, true decoded frame counts, resize rules.

Two decord traps shape this module:

- decord 0.6.0 over-reports some AVI files by one frame and pads with a repeat of the last
  frame (409 for an HMDB-51 clip whose 408 frames decode with FFmpeg);
- a truncated file decodes silently: decord returns the frames before the cut (73 of 141)
  and raises nothing.

So frames are streamed with a one-frame delay: when the last frame is a byte-identical copy of
the one before, FFmpeg (through OpenCV, without colour conversion) counts the frames that
really decode and the repeat is dropped if it is surplus. The container header's count is
read separately so a caller can compare it with the decoded count. torchcodec
(``pipeline.readers.decoders``) returns exactly the frames FFmpeg decodes, so it needs neither check;
a truncated file decodes short with it too (73 of 141), which ``check_complete`` catches for both.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pipeline.readers.decoders import Decoder, Device, check_choice, open_torchcodec, torchcodec_frames
from pipeline.storage.paths import require_utf8_name
from ufsn.errors import ConfigError, InputError, MissingInputError

# The one list of video file extensions (compared lower-case): what extract decodes, what the splits
# step lists and what stage 1 reads pairs from. decord (FFmpeg) opens every one of them.
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".flv", ".m4v")


class VideoError(RuntimeError):
    """A video that cannot be decoded (or decodes short); the message is the manifest reason."""


class DecodeReport(NamedTuple):
    """What decoding one video found; valid once the frame stream is exhausted."""

    header: int  # frame count in the container header (0 when the container has none)
    decoded: int  # frames that really decode
    fps: float  # average frame rate reported by the decoder (0.0 when unknown)
    decoder: str  # "decord", "opencv" (decord's fallback) or "torchcodec"
    note: str  # why OpenCV was used, which surplus frame was dropped, or NVDEC's CPU fallback ("" when none)


class HeaderInfo(NamedTuple):
    """What the container says, read by OpenCV without decoding."""

    opened: bool  # OpenCV could open the file at all
    frames: int  # frame count in the header (0 when absent)
    fps: float  # frame rate in the header (0.0 when absent)


def read_header(path: Path) -> HeaderInfo:
    """Frame count and fps from the container header via OpenCV (zeros when it has none)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return HeaderInfo(False, 0, 0.0)
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        fps = cap.get(cv2.CAP_PROP_FPS)
    finally:
        cap.release()
    count = int(count) if count and math.isfinite(count) and count > 0 else 0
    fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else 0.0
    return HeaderInfo(True, count, fps)


def ffmpeg_decoded_count(path: Path) -> int:
    """Frames FFmpeg (OpenCV's backend) really decodes; ``grab`` skips the colour conversion."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"OpenCV cannot open {path}")
        count = 0
        while cap.grab():
            count += 1
    finally:
        cap.release()
    return count


def _decord_frames(reader) -> Iterator[np.ndarray]:
    # Sequential next() is ~4x faster than get_batch over the whole range in decord 0.6.0.
    while True:
        try:
            frame = reader.next()
        except StopIteration:
            return
        yield frame.asnumpy()  # (H, W, 3) RGB uint8


def _opencv_frames(path: Path) -> Iterator[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"OpenCV cannot open {path}")
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # (H, W, 3) RGB uint8
    finally:
        cap.release()


class FrameStream:
    """Iterate the RGB frames of a video that really decode; ``report`` is final after iteration.

    ``decoder`` "decord" (CPU only; OpenCV when decord cannot open the file) or "torchcodec" on ``device``
    "cpu" or "cuda" (NVDEC; the frames are copied back to host memory).
    """

    def __init__(self, path: Path, decoder: Decoder = "decord", device: Device = "cpu"):
        check_choice(decoder, device)
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoError(f"not a file: {self.path}")
        if self.path.stat().st_size == 0:
            raise VideoError(f"empty file (0 bytes): {self.path}")
        info = read_header(self.path)
        self.header = info.frames
        self._decoded = 0
        self._note = ""
        if decoder == "torchcodec":
            self._frames = self._open_torchcodec(device, info)
        else:
            self._frames = self._open_decord(info)

    def _open_torchcodec(self, device: str, info: HeaderInfo) -> Iterator[np.ndarray]:
        try:
            video = open_torchcodec(self.path, device)
        except ValueError as exc:  # the file, not the library: a failed row
            raise VideoError(str(exc)) from exc
        self.decoder = "torchcodec"
        self.fps = float(video.metadata.average_fps or info.fps)
        if device == "cuda" and video.cpu_fallback:  # NVDEC lacks the codec or libnvcuvid: torchcodec used the CPU
            self._note = f"torchcodec decoded on the CPU ({video.cpu_fallback})"
        return torchcodec_frames(video)

    def _open_decord(self, info: HeaderInfo) -> Iterator[np.ndarray]:
        try:
            import decord

            reader = decord.VideoReader(str(self.path), ctx=decord.cpu(0), num_threads=1)
        except Exception as exc:  # decord raises DECORDError/RuntimeError for unreadable input
            decord_reason = " ".join(str(exc).split())[:160]
            if not info.opened:
                raise VideoError(f"cannot decode {self.path}: decord: {decord_reason}; OpenCV cannot open it") from exc
            self.decoder = "opencv"
            self.fps = info.fps
            self._note = f"opencv fallback (decord: {decord_reason})"
            return _opencv_frames(self.path)
        self.decoder = "decord"
        self.fps = float(reader.get_avg_fps() or info.fps)
        return _decord_frames(reader)

    def __iter__(self) -> Iterator[np.ndarray]:
        frames = self._frames
        before: np.ndarray | None = None  # the frame yielded last
        pending: np.ndarray | None = None  # held back until we know it is not a surplus repeat
        try:
            for frame in frames:
                if pending is not None:
                    yield pending
                    self._decoded += 1
                    before = pending
                pending = frame
        except Exception as exc:
            if isinstance(exc, VideoError):
                raise
            raise VideoError(f"decode error after frame {self._decoded} of {self.path}: {exc}") from exc
        if pending is None:
            return
        if self.decoder == "decord" and before is not None and np.array_equal(pending, before):
            true_count = ffmpeg_decoded_count(self.path)
            if true_count <= self._decoded:
                self._note = (
                    f"dropped surplus repeat of frame {self._decoded} (decord {self._decoded + 1}, ffmpeg {true_count})"
                )
                return
        yield pending
        self._decoded += 1

    @property
    def report(self) -> DecodeReport:
        """Counts and decoder used; call after the stream is exhausted."""
        return DecodeReport(self.header, self._decoded, self.fps, self.decoder, self._note)


def check_complete(report: DecodeReport, path: Path, allow_truncated: bool) -> None:
    """Raise ``VideoError("truncated: header N, decoded M")`` when more than one frame is missing."""
    if report.decoded == 0:
        raise VideoError(f"no frame decodes: {path}")
    if report.header and report.header - report.decoded > 1 and not allow_truncated:
        raise VideoError(f"truncated: header {report.header}, decoded {report.decoded} ({path})")


def output_size(width: int, height: int, size: tuple[int, int] | None, short_side: int | None) -> tuple[int, int]:
    """Frame size (W, H) after resizing: ``size`` exactly, or the short side scaled to ``short_side``.

    ``short_side`` keeps the aspect ratio and rounds the long side to the nearest pixel;
    neither given keeps the native size.
    """
    if size is not None and short_side is not None:
        raise ConfigError("give either a size WxH or a short side, not both")
    if size is not None:
        return size
    if short_side is not None:
        if width <= height:
            return short_side, max(1, round(height * short_side / width))
        return max(1, round(width * short_side / height)), short_side
    return width, height


def resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an (H, W, C) frame to ``size`` (W, H): area averaging when shrinking, bilinear otherwise."""
    import cv2

    height, width = frame.shape[:2]
    if (width, height) == tuple(size):
        return frame
    shrinking = size[0] * size[1] < width * height
    # INTER_AREA avoids aliasing when shrinking; it degenerates to nearest when enlarging.
    return cv2.resize(frame, tuple(size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def fps_repeats(index: int, source_fps: float, target_fps: float | None) -> int:
    """How many output frames source frame ``index`` (0-based) becomes when resampling to ``target_fps``.

    Output frame k shows source frame floor(k * source / target) (the latest frame at its time),
    so this is ceil((i + 1) * r) - ceil(i * r) with r = target / source, in exact fractions so
    29.97 fps sources do not drift.
    """
    if target_fps is None:
        return 1
    if source_fps <= 0:
        raise VideoError("cannot resample: the video reports no frame rate")
    ratio = Fraction(target_fps).limit_denominator(100000) / Fraction(source_fps).limit_denominator(100000)
    return math.ceil((index + 1) * ratio) - math.ceil(index * ratio)


def find_videos(folder: Path) -> list[Path]:
    """Videos under ``folder/<Class>/`` with a known extension, sorted; duplicate ids are an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingInputError(f"video folder not found: {folder}")
    found = sorted(
        p
        for p in folder.glob("*/*")
        if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file() and not p.name.startswith(".")
    )
    seen: dict[str, Path] = {}
    for path in found:
        require_utf8_name(path)
        if path.stem in seen:
            raise InputError(f"two videos share the id {path.stem!r}: {seen[path.stem]} and {path}")
        seen[path.stem] = path
    return found
