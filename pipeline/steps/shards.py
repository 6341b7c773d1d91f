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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pipeline.catalog import Definition, VideoEntry, class_of, discover_videos, load_definition
from pipeline.readers.folder import count_items
from pipeline.readers.shard import FORMAT, IndexRow, format_index
from pipeline.steps.extract import SETTINGS_FILE as FRAMES_SETTINGS
from pipeline.steps.tvl1.video import SETTINGS_FILE as FLOW_SETTINGS
from pipeline.storage.atomic import TMP_MARK, atomic_write_text, output_dir, remove_stale_temporaries
from pipeline.storage.flowcode import DEFAULT_BOUND
from pipeline.storage.manifest import ManifestRow, StepSummary, summarize, write_manifest
from pipeline.storage.paths import DatasetPaths, flow_names, frame_name
from ufsn.errors import InputError

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
        raise InputError(f"{paths.frame_dir(video_id)}: no frames")
    rgb = [paths.frame_dir(video_id) / frame_name(i) for i in range(1, frames + 1)]
    flow = [paths.flow_dir(video_id) / name for i in range(1, pairs + 1) for name in flow_names(i, flow_ext)]
    # Gaps first: a frame missing from the middle would otherwise read as a flow count mismatch.
    for path in rgb + flow:
        if not path.is_file():
            raise InputError(f"{path}: missing (frames must be numbered 1..N without gaps)")
    if pairs != frames - 1:
        raise InputError(f"{paths.flow_dir(video_id)}: {pairs} flow pairs for {frames} frames (expected {frames - 1})")
    return rgb, flow


def _video_attrs(definition: Definition, entry: VideoEntry, first_jpeg: bytes, bound: float) -> dict:
    import cv2

    cls = class_of(definition, entry)
    if cls is None:
        raise InputError(f"{entry.video_id}: class unknown (no class folder under videos/, no class in the name)")
    image = cv2.imdecode(np.frombuffer(first_jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{entry.video_id}: first frame does not decode")
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
        raise InputError(f"{path}: unreadable shard ({exc}); delete it or run with --force") from None


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


class FlowRecord(NamedTuple):
    """tvl1's settings record as shards uses it: the text, stored in every shard, and the two values read from it."""

    text: str
    bound: float  # px; the flow images map -bound..bound onto 0..255
    ext: str  # jpg | png


def read_flow_record(path: Path) -> FlowRecord:
    """The settings record at ``path``, parsed once; without one (or without a key) the tvl1 defaults."""
    text = _settings(path)
    record = json.loads(text)
    return FlowRecord(text, float(record.get("bound", DEFAULT_BOUND)), str(record.get("format", "jpg")))


def _prepare_folder(folder: Path, force: bool) -> None:
    """Create the shards folder, delete dead runs' temporaries, and empty it under ``force``."""
    output_dir(folder)
    remove_stale_temporaries(folder)
    if force:
        shutil.rmtree(folder)
        folder.mkdir()


def _root_attrs(dataset: str, paths: DatasetPaths, flow: FlowRecord) -> dict:
    """Attributes of every shard's root: the dataset and the settings its frames and flow were made with."""
    return {
        "dataset": dataset,
        "extract_config": _settings(paths.frames / FRAMES_SETTINGS),
        "tvl1_config": flow.text,
        "flow_bound": flow.bound,
    }


def _finished_shards(folder: Path) -> tuple[list[Path], list[IndexRow]]:
    """The complete shards already in ``folder``, in order, and their index rows."""
    finished = sorted(folder.glob("shard-*.h5"))
    return finished, [row for path in finished for row in shard_rows(path)]


def _next_number(finished: list[Path]) -> int:
    """The number of the next shard: one past the last finished one."""
    return int(finished[-1].stem.split("-")[1]) + 1 if finished else 0


def _unpacked_videos(paths: DatasetPaths, packed: set[str]) -> list[str]:
    """Frame folders (not temporaries) whose video is in no finished shard, by name."""
    return sorted(
        p.name for p in paths.frames.iterdir() if p.is_dir() and TMP_MARK not in p.name and p.name not in packed
    )


def _pack_videos(
    todo: list[str],
    load: Callable[[str], VideoPayload],
    folder: Path,
    number: int,
    root_attrs: dict,
    shard_size: int,
    progress: bool,
) -> tuple[list[IndexRow], dict[str, ManifestRow]]:
    """Write the videos ``todo`` into new shards numbered from ``number``; a video that fails to load is a failed row.

    A shard is closed once it holds ``shard_size`` bytes; on an error the open one is deleted, never left behind.
    """
    from pipeline.progress import progress_bar

    index: list[IndexRow] = []
    rows: dict[str, ManifestRow] = {}
    writer = None
    try:
        for vid in progress_bar(todo, desc="shards", unit="video", enabled=progress):
            t0 = time.perf_counter()
            try:
                payload = load(vid)
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
            if writer.bytes >= shard_size:
                writer.finish()
                writer, number = None, number + 1
        if writer is not None:
            writer.finish()
    finally:
        if writer is not None and writer.handle.id.valid:
            writer.handle.close()
            writer.tmp.unlink(missing_ok=True)
    return index, rows


def run_shards(config: ShardsConfig, progress: bool = True) -> StepSummary:
    """Pack every video with frames and flow into shards, keeping finished shards; write index.csv."""
    start = time.perf_counter()
    paths = DatasetPaths(Path(config.root), config.dataset)
    definition = load_definition(paths)
    folder = paths.shards
    _prepare_folder(folder, config.force)
    flow = read_flow_record(paths.tvl1 / FLOW_SETTINGS)
    root_attrs = _root_attrs(config.dataset, paths, flow)
    finished, index = _finished_shards(folder)
    kept = {row.video_id: ManifestRow(row.video_id, "done", row.frames) for row in index}
    _, catalog = discover_videos(paths)
    todo = _unpacked_videos(paths, set(kept))

    def load(vid: str) -> VideoPayload:
        return load_payload(paths, definition, catalog.get(vid, VideoEntry(vid, None, None)), flow.bound, flow.ext)

    new_index, new_rows = _pack_videos(
        todo, load, folder, _next_number(finished), root_attrs, config.shard_size, progress
    )
    rows = {**kept, **new_rows}
    atomic_write_text(folder / "index.csv", format_index(sorted(index + new_index, key=lambda r: r.video_id)))
    write_manifest(paths.manifest_csv(STEP), rows)
    counts = summarize(rows)
    return StepSummary(
        STEP, counts["done"], counts["failed"], counts["skipped"], paths.manifest_csv(STEP), time.perf_counter() - start
    )
