"""One video's TV-L1, the task a worker process runs: frames -> flow -> quantised images, written atomically.

This module imports neither implementation. The settings carry the implementation's ``video_flows``, which
pickles by reference, so a joblib/loky or dask worker imports only the module that defines it: ``opencv``
for OpenCV runs, ``pytorch`` (and torch: ~1.4 s and ~0.5 GB per process) only for torch runs.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, NamedTuple, get_args

import numpy as np

from pipeline.steps.tvl1.frames import list_frames
from pipeline.steps.tvl1.params import TVL1Params
from pipeline.storage.atomic import atomic_dir
from pipeline.storage.flowcode import quantize_flow
from pipeline.storage.manifest import ManifestRow
from pipeline.storage.paths import flow_names

SETTINGS_FILE = "tvl1_config.json"  # beside the flow folders: the settings that decided their bytes
FlowFormat = Literal["jpg", "png"]  # png is lossless
FORMATS: tuple[str, ...] = get_args(FlowFormat)


class FlowSettings(NamedTuple):
    """How every video of a run is computed and stored; the same for all its tasks."""

    # opencv.video_flows or pytorch.video_flows: yields (pair index from 1, (H, W, 2) flow) for the frames
    flows: Callable[[list[Path], FlowSettings], Iterator[tuple[int, np.ndarray]]]
    params: TVL1Params
    bound: float  # px; flow is clipped to +-bound and mapped onto 0..255
    format: FlowFormat
    quality: int  # JPEG quality
    device: str
    batch: int = 0  # torch: pairs per call; 0 = auto_batch
    threads: int = 1  # torch: intra-op threads of one worker
    compile: bool = False  # torch: torch.compile the iteration


class TVL1Task(NamedTuple):
    video_id: str
    frames: Path  # the video's frame folder
    expected: int  # frame count from the extract manifest (0 = unknown)
    out: Path
    settings: FlowSettings
    seen: int = 0  # planned_identity(out, row) when planned: 0 with no row, else the folder's inode


def _encode(code: np.ndarray, fmt: str, quality: int) -> bytes:
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, data = cv2.imencode(f".{fmt}", code, params)
    if not ok:
        raise RuntimeError(f"{fmt} encoding of a flow image failed")
    return data.tobytes()


def tvl1_video(task: TVL1Task) -> ManifestRow:
    """TV-L1 of every consecutive frame pair of one video, written atomically; a 1-frame video is skipped."""
    start = time.perf_counter()
    s = task.settings
    try:
        frames = list_frames(task.frames, task.expected)
        if len(frames) < 2:
            shutil.rmtree(task.out, ignore_errors=True)
            return ManifestRow(
                task.video_id, "skipped", 0, time.perf_counter() - start, f"{len(frames)} frame: no flow pair"
            )
        with atomic_dir(task.out) as tmp:
            for index, flow in s.flows(frames, s):
                x_name, y_name = flow_names(index, s.format)
                (tmp / x_name).write_bytes(_encode(quantize_flow(flow[..., 0], s.bound), s.format, s.quality))
                (tmp / y_name).write_bytes(_encode(quantize_flow(flow[..., 1], s.bound), s.format, s.quality))
    except BaseException:
        shutil.rmtree(task.out, ignore_errors=True)
        raise
    return ManifestRow(task.video_id, "done", len(frames) - 1, time.perf_counter() - start)
