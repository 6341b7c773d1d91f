"""``ufsn-data shards``: pack frame and TV-L1 JPEGs into HDF5 shards with an index, resumably.

Layout of ``shard-NNNNN.h5`` (format ``ufsn-shard-1``), chosen by measurement (README, "Shards"):
``videos/<video_id>/rgb`` is every frame's JPEG bytes back to back in one contiguous uint8
dataset and ``rgb_offsets`` (frames + 1, int64) where they start; ``flow`` / ``flow_offsets``
hold the x and y JPEGs of each pair interleaved (x1, y1, x2, y2, ...). The bytes are the files'
own, never re-encoded. A snippet of consecutive frames is then one contiguous read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pipeline.catalog import Definition, VideoEntry, class_of, discover_videos, load_definition
from pipeline.readers.folder import count_items
from pipeline.readers.shard import FORMAT, IndexRow, format_index
from pipeline.storage.atomic import TMP_MARK, atomic_write_text, remove_stale_temporaries
from pipeline.storage.flowcode import DEFAULT_BOUND
from pipeline.storage.manifest import ManifestRow, StepSummary, summarize, write_manifest
from pipeline.storage.paths import DatasetPaths, flow_names, frame_name

STEP = "shards"


@dataclass(frozen=True)
class ShardsConfig:
    """Options of ``ufsn-data shards``."""

    root: Path = Path("data")
    dataset: str = "synthetic"
    shard_size: int = 2**30  # bytes; a shard closes once it holds at least this much
    force: bool = False  # delete existing shards and pack everything again


class VideoPayload(NamedTuple):
    """Everything stored for one video."""

    rgb: list[bytes]
    flow: list[bytes]  # x1, y1, x2, y2, ...
    attrs: dict


def checksum(rgb: np.ndarray, rgb_offsets: np.ndarray, flow: np.ndarray, flow_offsets: np.ndarray) -> str:
    """SHA-256 over a video's stored arrays (data and offsets), as verify recomputes it."""
    digest = hashlib.sha256()
    for array in (rgb_offsets.astype("<i8"), rgb, flow_offsets.astype("<i8"), flow):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _settings(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else "{}"


def _file_names(paths: DatasetPaths, video_id: str, flow_ext: str) -> tuple[list[Path], list[Path]]:
    frames = count_items(paths.frame_dir(video_id), "img_")
    pairs = count_items(paths.flow_dir(video_id), "flow_x_")
    if frames == 0:
        raise ValueError(f"{paths.frame_dir(video_id)}: no frames")
    rgb = [paths.frame_dir(video_id) / frame_name(i) for i in range(1, frames + 1)]
    flow = [paths.flow_dir(video_id) / name for i in range(1, pairs + 1) for name in flow_names(i, flow_ext)]
    # Gaps first: a frame missing from the middle would otherwise read as a flow count mismatch.
    for path in rgb + flow:
        if not path.is_file():
            raise ValueError(f"{path}: missing (frames must be numbered 1..N without gaps)")
    if pairs != frames - 1:
        raise ValueError(f"{paths.flow_dir(video_id)}: {pairs} flow pairs for {frames} frames (expected {frames - 1})")
    return rgb, flow


def _video_attrs(definition: Definition, entry: VideoEntry, first_jpeg: bytes, bound: float) -> dict:
    import cv2

    cls = class_of(definition, entry)
    if cls is None:
        raise ValueError(f"{entry.video_id}: class unknown (no class folder under videos/, no class in the name)")
    image = cv2.imdecode(np.frombuffer(first_jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{entry.video_id}: first frame does not decode")
    fps, size, mtime = 0.0, -1, 0.0
    if entry.path is not None:
        stat = entry.path.stat()
        size, mtime = stat.st_size, stat.st_mtime
        capture = cv2.VideoCapture(str(entry.path))
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        capture.release()
    return {
        "label": definition.label(cls),
        "class": cls,
        "width": image.shape[1],
        "height": image.shape[0],
        "fps": fps,  # 0 when the source video is gone
        "flow_bound": bound,
        "source_size": size,  # -1 when the source video is gone
        "source_mtime": mtime,
    }


def load_payload(paths: DatasetPaths, definition: Definition, entry: VideoEntry, bound: float, ext: str):
    """Read one video's frame and flow files and its attributes."""
    rgb_files, flow_files = _file_names(paths, entry.video_id, ext)
    rgb = [p.read_bytes() for p in rgb_files]
    flow = [p.read_bytes() for p in flow_files]
    return VideoPayload(rgb, flow, _video_attrs(definition, entry, rgb[0], bound))


def _concat(items: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in items], out=offsets[1:])
    return np.frombuffer(b"".join(items), dtype=np.uint8), offsets


def write_video(handle, video_id: str, payload: VideoPayload) -> None:
    """Add one video group to an open h5py file (contiguous datasets: JPEG bytes gain nothing from chunking)."""
    group = handle.create_group(f"videos/{video_id}")
    rgb, rgb_offsets = _concat(payload.rgb)
    flow, flow_offsets = _concat(payload.flow)
    for name, array in (("rgb", rgb), ("rgb_offsets", rgb_offsets), ("flow", flow), ("flow_offsets", flow_offsets)):
        group.create_dataset(name, data=array)
    group.attrs.update(payload.attrs)
    group.attrs.update(frames=len(payload.rgb), flow_pairs=len(payload.flow) // 2)
    group.attrs["checksum"] = checksum(rgb, rgb_offsets, flow, flow_offsets)


def shard_rows(path: Path) -> list[IndexRow]:
    """Index rows of a finished shard; ValueError when it is not a complete shard."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            if handle.attrs.get("format") != FORMAT or not handle.attrs.get("complete", False):
                raise ValueError("not marked complete")
            return [
                IndexRow(
                    vid,
                    path.name,
                    int(g.attrs["label"]),
                    str(g.attrs["class"]),
                    int(g.attrs["frames"]),
                    int(g.attrs["flow_pairs"]),
                )
                for vid, g in handle["videos"].items()
            ]
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable shard ({exc}); delete it or run with --force") from None


class _ShardWriter:
    """One shard being filled under a temporary name, renamed when closed."""

    def __init__(self, folder: Path, number: int, root_attrs: dict):
        import h5py

        self.final = folder / f"shard-{number:05d}.h5"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.final.name}{TMP_MARK}{os.getpid()}-")
        os.close(fd)
        self.tmp = Path(tmp)
        self.handle = h5py.File(self.tmp, "w")
        self.handle.attrs.update(root_attrs, format=FORMAT, complete=False)
        self.bytes = 0

    def finish(self) -> None:
        # "complete" is the last thing written: a shard without it is never read as finished.
        self.handle.attrs["complete"] = True
        self.handle.close()
        with open(self.tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(self.tmp, self.final)


def run_shards(config: ShardsConfig, progress: bool = True) -> StepSummary:
    """Pack every video with frames and flow into shards, keeping finished shards; write index.csv."""
    from pipeline.progress import progress_bar

    start = time.perf_counter()
    paths = DatasetPaths(Path(config.root), config.dataset)
    definition = load_definition(paths)
    folder = paths.shards
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    if config.force:
        shutil.rmtree(folder)
        folder.mkdir()
    tvl1_settings = _settings(paths.tvl1 / "tvl1_config.json")
    bound = float(json.loads(tvl1_settings).get("bound", DEFAULT_BOUND))
    ext = str(json.loads(tvl1_settings).get("format", "jpg"))
    root_attrs = {
        "dataset": config.dataset,
        "extract_config": _settings(paths.frames / "extract_config.json"),
        "tvl1_config": tvl1_settings,
        "flow_bound": bound,
    }
    finished = sorted(folder.glob("shard-*.h5"))
    index = [row for path in finished for row in shard_rows(path)]
    packed = {row.video_id for row in index}
    _, catalog = discover_videos(paths)
    todo = sorted(
        p.name for p in paths.frames.iterdir() if p.is_dir() and TMP_MARK not in p.name and p.name not in packed
    )
    rows = {vid: ManifestRow(vid, "done", r.frames) for vid, r in ((r.video_id, r) for r in index)}
    number = int(finished[-1].stem.split("-")[1]) + 1 if finished else 0
    writer = None
    try:
        for vid in progress_bar(todo, desc="shards", unit="video", enabled=progress):
            t0 = time.perf_counter()
            try:
                payload = load_payload(paths, definition, catalog.get(vid, VideoEntry(vid, None, None)), bound, ext)
            except (OSError, ValueError) as exc:
                rows[vid] = ManifestRow(vid, "failed", 0, time.perf_counter() - t0, str(exc))
                continue
            if writer is None:
                writer = _ShardWriter(folder, number, root_attrs)
            write_video(writer.handle, vid, payload)
            writer.bytes += sum(map(len, payload.rgb)) + sum(map(len, payload.flow))
            index.append(
                IndexRow(
                    vid,
                    writer.final.name,
                    payload.attrs["label"],
                    payload.attrs["class"],
                    len(payload.rgb),
                    len(payload.flow) // 2,
                )
            )
            rows[vid] = ManifestRow(vid, "done", len(payload.rgb), time.perf_counter() - t0)
            if writer.bytes >= config.shard_size:
                writer.finish()
                writer, number = None, number + 1
        if writer is not None:
            writer.finish()
    finally:
        if writer is not None and writer.handle.id.valid:
            writer.handle.close()
            writer.tmp.unlink(missing_ok=True)
    atomic_write_text(folder / "index.csv", format_index(sorted(index, key=lambda r: r.video_id)))
    write_manifest(paths.manifest_csv(STEP), rows)
    counts = summarize(rows)
    return StepSummary(
        STEP, counts["done"], counts["failed"], counts["skipped"], paths.manifest_csv(STEP), time.perf_counter() - start
    )
