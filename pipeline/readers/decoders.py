"""Which library decodes a video: decord (the default) or torchcodec, on the CPU or an NVIDIA GPU (NVDEC).

The one place where a decoder is chosen, checked and opened: extract's ``FrameStream`` and stage 1's
video readers (``ufsn.flow.data``, ``ufsn.flow.pairs``, through :func:`read_frames` and :func:`frame_count`).

torchcodec decodes with the system's FFmpeg (major versions 4 to 9) through its shared libraries, which pip
cannot install. Without them torchcodec 0.17 still imports (older releases raise there) and the first
decoder raises a 40-line RuntimeError; :func:`load_torchcodec` turns both into one line naming what to install.

Frames come from torchcodec's sequential cursor (``torchcodec._core.get_next_frame``), not from its public
index or time API, which places frames by timestamp. In a DivX packed-B-frame AVI (HMDB-51, some UCF-101
clips) FFmpeg returns the last frame at the flush without a timestamp, and the public API drops it
(torchcodec issue #1363: 407 of the 408 frames FFmpeg decodes from an HMDB-51 clip); after a seek it
returns the frame one or two before the index asked for. The cursor is private, so pyproject pins
torchcodec==0.17.0 and a release without it is a one-line error, not a silent short count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, NamedTuple, get_args

import numpy as np

from ufsn.errors import ConfigError, InputError, UnavailableError

Decoder = Literal["decord", "torchcodec"]
Device = Literal["cpu", "cuda"]
DECODERS: tuple[str, ...] = get_args(Decoder)
DEVICES: tuple[str, ...] = get_args(Device)
FFMPEG_INSTALL = "apt-get install ffmpeg (Debian/Ubuntu), conda install ffmpeg, or brew install ffmpeg"


def check_choice(decoder: str, device: str) -> None:
    """Raise ``ValueError`` for an unknown decoder or device, or for decord on cuda (its wheel has no GPU decoding)."""
    if decoder not in DECODERS:
        raise ConfigError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if decoder == "decord" and device == "cuda":
        raise ConfigError("--device cuda needs --decoder torchcodec (NVDEC); decord decodes on the CPU only")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # torchcodec's C++ errors start "SingleStreamDecoder, /path/File.cpp:41, ": keep what follows.
    return re.sub(r"^.*?\.cpp:\d+, ", "", lines[0]) if lines else type(exc).__name__


def _ffmpeg_missing(exc: BaseException) -> str:
    return (
        f"--decoder torchcodec needs FFmpeg's shared libraries (4 to 9): {FFMPEG_INSTALL}; "
        f"torchcodec said: {_first_line(exc)}"
    )


class TorchCodec(NamedTuple):
    """The parts of torchcodec the readers use, once FFmpeg's libraries have loaded."""

    version: str
    ffmpeg: int  # major version of the FFmpeg libraries torchcodec loaded
    video_decoder: type  # torchcodec.decoders.VideoDecoder
    next_frame: Callable  # torchcodec._core.get_next_frame(handle) -> (frame, pts, duration); IndexError at the end


def load_torchcodec() -> TorchCodec:
    """torchcodec with FFmpeg's libraries loaded, or a one-line :class:`UnavailableError` saying what to install."""
    try:
        import torchcodec
        from torchcodec import _core
        from torchcodec.decoders import VideoDecoder
    except ImportError as exc:
        raise UnavailableError(
            f"--decoder torchcodec needs the torchcodec package: pip install torchcodec==0.17.0 ({_first_line(exc)})"
        ) from None
    except (RuntimeError, OSError) as exc:  # torchcodec < 0.17 loads FFmpeg when imported
        raise UnavailableError(_ffmpeg_missing(exc)) from None
    ffmpeg = getattr(torchcodec, "ffmpeg_major_version", 0)  # None: 0.17 imported without FFmpeg
    if ffmpeg is None:
        try:
            VideoDecoder(b"")  # retries loading FFmpeg and raises its error, whose first line we quote
        except Exception as exc:
            raise UnavailableError(_ffmpeg_missing(exc)) from None
    version = getattr(torchcodec, "__version__", "unknown")
    next_frame = getattr(_core, "get_next_frame", None)
    if next_frame is None:
        raise UnavailableError(
            f"torchcodec {version} lacks the sequential cursor (torchcodec._core.get_next_frame) that decodes every "
            "frame of packed-B-frame AVIs; pip install torchcodec==0.17.0"
        )
    return TorchCodec(version, int(ffmpeg or 0), VideoDecoder, next_frame)


def check_available(decoder: str, device: str) -> None:
    """Raise a one-line error when ``decoder`` cannot decode on ``device`` on this machine."""
    check_choice(decoder, device)
    if decoder == "torchcodec":
        load_torchcodec()
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UnavailableError(
                f"--device cuda: torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is False; "
                f"CUDA build: {torch.version.cuda or 'none'}); use --device cpu"
            )


def open_torchcodec(path: Path, device: str = "cpu"):
    """A torchcodec ``VideoDecoder`` of ``path`` giving (H, W, 3) frames on ``device``, one FFmpeg thread.

    Raises :class:`UnavailableError` (one line) when torchcodec or FFmpeg is missing, :class:`InputError` with the path
    and torchcodec's reason when the file does not open.
    """
    tc = load_torchcodec()
    try:
        # One thread: extract runs one process per core. Approximate: the cursor never seeks, so exact mode's
        # scan of every packet would be wasted.
        return tc.video_decoder(
            str(path), dimension_order="NHWC", num_ffmpeg_threads=1, device=device, seek_mode="approximate"
        )
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"cannot decode {path}: torchcodec: {_first_line(exc)}") from exc


def torchcodec_frames(video) -> Iterator[np.ndarray]:
    """Every frame FFmpeg decodes from ``video`` (an :func:`open_torchcodec` decoder), in order, on the CPU."""
    next_frame = load_torchcodec().next_frame
    while True:
        try:
            frame, _, _ = next_frame(video._decoder)  # (H, W, 3) uint8 on the decoder's device
        except IndexError:  # torchcodec's end of stream ("no more frames left to decode")
            return
        yield frame.cpu().numpy()  # (H, W, 3) RGB uint8


def decord_frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame decord decodes from ``path``, in order (sequential ``next``: no seek), (H, W, 3) RGB uint8."""
    import decord

    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    while True:
        try:
            yield reader.next().asnumpy()
        except StopIteration:
            return


def read_frames(path: Path, indices: Sequence[int] | None = None, decoder: Decoder = "decord") -> np.ndarray:
    """(N, H, W, 3) RGB uint8 frames ``indices`` (0-based; None = every frame) of one video, decoded on the CPU.

    Both decoders decode from the first frame up to the last index asked for, never seeking: decord's
    ``get_batch`` and torchcodec's index API both return wrong frames after a seek in packed-B-frame AVIs
    such as HMDB-51's (docs/decoders.md). decord's count can include a padded repeat of the last frame
    (``frame_count``). An index past the frames that decode raises ``IndexError``.
    """
    check_choice(decoder, "cpu")
    frames = decord_frames(path) if decoder == "decord" else torchcodec_frames(open_torchcodec(path))
    needed = None if indices is None else set(indices)
    kept: dict[int, np.ndarray] = {}  # only the frames asked for: a pair late in a long clip holds two
    decoded = 0
    for index, frame in enumerate(frames):
        decoded = index + 1
        if needed is None or index in needed:
            kept[index] = frame
            if needed is not None and len(kept) == len(needed):
                break
    if indices is None:
        return np.stack(list(kept.values()))  # (T, H, W, 3)
    missing = sorted(needed - kept.keys())
    if missing:
        raise IndexError(f"frame {missing[0]} of {path}: only {decoded} frames decode")
    return np.stack([kept[i] for i in indices])  # (N, H, W, 3)


def frame_count(path: Path, decoder: Decoder = "decord") -> int:
    """Frames of one video: decord's count from the index (may count a surplus last frame); torchcodec decodes all."""
    check_choice(decoder, "cpu")
    if decoder == "decord":
        import decord

        return len(decord.VideoReader(str(path)))
    return sum(1 for _ in torchcodec_frames(open_torchcodec(path)))
