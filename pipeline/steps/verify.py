"""``ufsn-data verify``: decode every frame of every shard and check counts and checksums against the index."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pipeline.readers.shard import FORMAT, IndexRow, read_index
from pipeline.steps.shards import checksum
from pipeline.storage.paths import DatasetPaths, inside


@dataclass(frozen=True)
class VerifyConfig:
    """Options of ``ufsn-data verify``."""

    root: Path = Path("data")
    dataset: str = "synthetic"


class Problem(NamedTuple):
    """One bad video (or a whole shard, with video_id '*')."""

    shard: str
    video_id: str
    message: str


class VerifyReport(NamedTuple):
    """What ``run_verify`` checked and what it found wrong."""

    shards: int
    videos: int
    images: int  # JPEGs decoded
    problems: tuple[Problem, ...]
    seconds: float


def _decode_all(buffer: np.ndarray, offsets: np.ndarray, flag: int, shape: tuple[int, int]) -> str | None:
    import cv2

    for i in range(len(offsets) - 1):
        image = cv2.imdecode(buffer[offsets[i] : offsets[i + 1]], flag)
        if image is None:
            return f"item {i} does not decode"
        if image.shape[:2] != shape:
            return f"item {i} is {image.shape[1]}x{image.shape[0]}, expected {shape[1]}x{shape[0]}"
    return None


def check_video(group, row: IndexRow) -> list[str]:
    """Problems of one stored video against its index row (an empty list when it is sound)."""
    import cv2

    rgb, rgb_offsets = group["rgb"][()], group["rgb_offsets"][()]
    flow, flow_offsets = group["flow"][()], group["flow_offsets"][()]
    attrs = group.attrs
    problems = []
    if (int(attrs["frames"]), int(attrs["flow_pairs"])) != (row.frames, row.flow_pairs):
        problems.append(
            f"counts {attrs['frames']}/{attrs['flow_pairs']} differ from the index {row.frames}/{row.flow_pairs}"
        )
    if len(rgb_offsets) != row.frames + 1 or len(flow_offsets) != 2 * row.flow_pairs + 1:
        problems.append(f"{len(rgb_offsets) - 1} frames and {(len(flow_offsets) - 1) / 2} pairs stored")
    for name, buffer, offsets in (("rgb", rgb, rgb_offsets), ("flow", flow, flow_offsets)):
        if offsets[0] != 0 or offsets[-1] != len(buffer) or np.any(np.diff(offsets) <= 0):
            problems.append(f"{name} offsets inconsistent with a buffer of {len(buffer)} bytes")
    if checksum(rgb, rgb_offsets, flow, flow_offsets) != attrs["checksum"]:
        problems.append("checksum mismatch")
    if problems:  # decoding garbage offsets could read anything; the count/checksum errors say enough
        return problems
    shape = (int(attrs["height"]), int(attrs["width"]))
    for name, buffer, offsets, flag in (
        ("rgb", rgb, rgb_offsets, cv2.IMREAD_COLOR),
        ("flow", flow, flow_offsets, cv2.IMREAD_GRAYSCALE),
    ):
        error = _decode_all(buffer, offsets, flag, shape)
        if error:
            problems.append(f"{name} {error}")
    return problems


def _check_shard(path: Path, rows: list[IndexRow]) -> list[Problem]:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        return [Problem(path.name, row.video_id, f"shard unreadable: {exc}") for row in rows]
    problems = []
    with handle:
        if handle.attrs.get("format") != FORMAT or not handle.attrs.get("complete", False):
            return [Problem(path.name, row.video_id, "shard not marked complete") for row in rows]
        stored = set(handle["videos"].keys())
        for row in rows:
            if row.video_id not in stored:
                problems.append(Problem(path.name, row.video_id, "in the index but not in the shard"))
                continue
            try:
                messages = check_video(handle["videos"][row.video_id], row)
            except (OSError, KeyError, ValueError) as exc:
                messages = [f"unreadable: {exc}"]
            problems += [Problem(path.name, row.video_id, m) for m in messages]
        problems += [
            Problem(path.name, vid, "in the shard but not in the index")
            for vid in sorted(stored - {r.video_id for r in rows})
        ]
    return problems


def run_verify(config: VerifyConfig, progress: bool = True) -> VerifyReport:
    """Check every shard listed in ``index.csv`` (and flag shard files the index does not list)."""
    from pipeline.progress import progress_bar

    start = time.perf_counter()
    folder = DatasetPaths(Path(config.root), config.dataset).shards
    index = read_index(folder / "index.csv")
    by_shard: dict[str, list[IndexRow]] = {}
    for row in index:
        by_shard.setdefault(row.shard, []).append(row)
    problems: list[Problem] = []
    for shard, rows in progress_bar(sorted(by_shard.items()), desc="verify", unit="shard", enabled=progress):
        path = inside(folder, shard)
        if not path.is_file():
            problems += [Problem(shard, row.video_id, "shard file missing") for row in rows]
            continue
        problems += _check_shard(path, rows)
    problems += [
        Problem(p.name, "*", "shard file not in the index")
        for p in sorted(folder.glob("shard-*.h5"))
        if p.name not in by_shard
    ]
    images = sum(r.frames + 2 * r.flow_pairs for r in index)
    return VerifyReport(len(by_shard), len(index), images, tuple(problems), time.perf_counter() - start)
