"""Helpers for the extract/tvl1 tests: small videos written with OpenCV, dataset copies, file digests."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np


def moving_frames(count: int, width: int = 96, height: int = 64, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames: a smooth random texture translating right by 2 px/frame."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(height // 8 + 2, (width + 2 * count) // 8 + 2, 3), dtype=np.uint8)
    import cv2

    big = cv2.resize(coarse, (coarse.shape[1] * 8, coarse.shape[0] * 8), interpolation=cv2.INTER_CUBIC)
    return np.stack([big[:height, 2 * t : 2 * t + width] for t in range(count)])


def write_avi(path: Path, frames: np.ndarray, fps: float = 25.0) -> Path:
    """Write RGB ``frames`` as an MJPG AVI with OpenCV's own writer (quality 95)."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), path
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    return path


def copy_videos(source_root: Path, dest_root: Path, every: int = 1, limit: int | None = None) -> list[str]:
    """Copy every ``every``-th synthetic video (and its ground truth) into ``dest_root``; return the ids."""
    src = source_root / "synthetic"
    videos = sorted(src.glob("videos/*/*.avi"))[::every][:limit]
    for video in videos:
        target = dest_root / "synthetic" / "videos" / video.parent.name / video.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(video, target)
        gt = src / "flow_gt" / f"{video.stem}.npz"
        (dest_root / "synthetic" / "flow_gt").mkdir(parents=True, exist_ok=True)
        shutil.copy2(gt, dest_root / "synthetic" / "flow_gt" / gt.name)
    return [v.stem for v in videos]


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` keyed by relative path (temporaries included, to catch leftovers)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
