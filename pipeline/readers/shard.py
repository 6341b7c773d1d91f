"""Read HDF5 shards: the index, and JPEG bytes of frames and flow pairs, opened lazily per process.

h5py handles are not fork-safe: a handle opened in the parent and used in a forked DataLoader
worker reads garbage or deadlocks. So a reader opens nothing until first use, remembers the pid
that opened its handles, and reopens them when it finds itself in another process.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pipeline.storage.paths import inside
from ufsn.errors import InputError, MissingInputError

INDEX_COLUMNS = ("video_id", "shard", "label", "class", "frames", "flow_pairs")
FORMAT = "ufsn-shard-1"


class IndexRow(NamedTuple):
    """One line of ``shards/index.csv``."""

    video_id: str
    shard: str  # file name inside the shards folder
    label: int
    cls: str
    frames: int
    flow_pairs: int


def format_index(rows: list[IndexRow]) -> str:
    """CSV text of ``index.csv``, rows in the given order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue()


def read_index(path: Path) -> list[IndexRow]:
    """Rows of ``index.csv``; a malformed line or a shard path leaving the folder names file and line."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"no shard index {path}; build the shards with `ufsn-data shards`")
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader, ()))
        if header != INDEX_COLUMNS:
            raise InputError(f"{path}:1: expected columns {','.join(INDEX_COLUMNS)}, got {','.join(header)}")
        for line, rec in enumerate(reader, start=2):
            try:
                inside(path.parent, rec[1])
                rows.append(IndexRow(rec[0], rec[1], int(rec[2]), rec[3], int(rec[4]), int(rec[5])))
            except (IndexError, ValueError) as exc:
                raise InputError(f"{path}:{line}: malformed index row {rec}: {exc}") from None
    return rows


def split_buffer(buffer: np.ndarray, offsets: np.ndarray, first: int, last: int) -> list[bytes]:
    """Items ``first..last-1`` of a concatenated buffer whose item i spans offsets[i]:offsets[i+1]."""
    base = int(offsets[first])
    return [buffer[int(offsets[i]) - base : int(offsets[i + 1]) - base].tobytes() for i in range(first, last)]


class ShardReader:
    """JPEG bytes of frames and flow pairs from the shards of one dataset folder.

    ``videos`` maps video id -> IndexRow. Reads of consecutive items are one contiguous
    HDF5 read (the layout stores each video's frames back to back).
    """

    def __init__(self, shards_dir: Path, videos: list[str] | None = None):
        """Open the index; the byte layout of ``videos`` (default: every video) is read here, once.

        Reading the layouts in the process that builds the reader means DataLoader workers (which
        restart every epoch) never touch HDF5 metadata: each read is one ``os.pread``.
        """
        self.folder = Path(shards_dir)
        rows = read_index(self.folder / "index.csv")
        self.videos = {row.video_id: row for row in rows}
        self._pid = -1
        self._files: dict[str, object] = {}
        self._fds: dict[str, int] = {}
        self._offsets: dict[tuple[str, str], tuple[int | None, np.ndarray]] = {}
        self._preload(self.videos if videos is None else [v for v in videos if v in self.videos])
        self.close()  # no handle survives into a forked worker

    def _preload(self, videos) -> None:
        by_shard: dict[str, list[str]] = {}
        for video_id in videos:
            by_shard.setdefault(self.videos[video_id].shard, []).append(video_id)
        for ids in by_shard.values():
            try:
                for video_id in ids:
                    for modality in ("rgb", "flow"):
                        self._layout(video_id, modality)
            except (OSError, ValueError, KeyError):
                continue  # a missing or broken shard: its reads raise, naming the file; the others still read

    def __getstate__(self):
        # Pickled into spawned workers without handles (the layouts are plain arrays); they open their own.
        state = self.__dict__.copy()
        state.update(_pid=-1, _files={}, _fds={})
        return state

    def _handle(self, shard: str):
        import h5py

        handle = self._files.get(shard)
        if handle is None:
            path = inside(self.folder, shard)
            try:
                handle = h5py.File(path, "r")
            except OSError as exc:  # h5py's messages do not always name the file (truncation does not)
                raise OSError(exc.errno, f"{path}: cannot open shard ({exc}); check with `ufsn-data verify`") from exc
            if handle.attrs.get("format") != FORMAT or not handle.attrs.get("complete", False):
                raise InputError(f"{path}: not a complete {FORMAT} file")
            self._files[shard] = handle
        return handle

    def _layout(self, video_id: str, modality: str) -> tuple[int | None, np.ndarray]:
        """(byte position of the buffer in the shard file or None, item offsets), cached per process."""
        key = (video_id, modality)
        if key not in self._offsets:
            group = self._handle(self.videos[video_id].shard)["videos"][video_id]
            # Contiguous, uncompressed datasets have a fixed place in the file: reading it with
            # os.pread skips HDF5's per-read selection machinery (the measured bottleneck).
            self._offsets[key] = (group[modality].id.get_offset(), group[f"{modality}_offsets"][()])
        return self._offsets[key]

    def _fd(self, shard: str) -> int:
        fd = self._fds.get(shard)
        if fd is None:
            fd = self._fds[shard] = os.open(inside(self.folder, shard), os.O_RDONLY)
        return fd

    def _read(self, video_id: str, modality: str, first: int, last: int) -> list[bytes]:
        if self._pid != os.getpid():  # first use, or a forked worker: never reuse the parent's handles
            self._files, self._fds, self._pid = {}, {}, os.getpid()  # layouts are plain data: kept
        position, offsets = self._layout(video_id, modality)
        if not 0 <= first <= last < len(offsets):
            raise IndexError(f"{video_id}: {modality} items {first}..{last - 1} outside 0..{len(offsets) - 2}")
        shard = self.videos[video_id].shard
        start, stop = int(offsets[first]), int(offsets[last])
        if position is None:  # empty (or, in foreign files, chunked) dataset
            data = self._handle(shard)["videos"][video_id][modality][start:stop]
        else:
            data = np.frombuffer(os.pread(self._fd(shard), stop - start, position + start), np.uint8)
        return split_buffer(data, offsets, first, last)

    def has(self, video_id: str) -> bool:
        """True when the index lists ``video_id``."""
        return video_id in self.videos

    def num_frames(self, video_id: str) -> int:
        """Number of RGB frames of ``video_id``."""
        return self.videos[video_id].frames

    def num_flow_pairs(self, video_id: str) -> int:
        """Number of TV-L1 flow pairs of ``video_id``."""
        return self.videos[video_id].flow_pairs

    def read_rgb(self, video_id: str, first: int, count: int) -> list[bytes]:
        """JPEG bytes of frames ``first..first+count-1`` (0-based)."""
        return self._read(video_id, "rgb", first, first + count)

    def read_flow(self, video_id: str, first: int, count: int) -> list[tuple[bytes, bytes]]:
        """(x, y) JPEG bytes of flow pairs ``first..first+count-1`` (0-based)."""
        items = self._read(video_id, "flow", 2 * first, 2 * (first + count))
        return list(zip(items[0::2], items[1::2], strict=True))

    def close(self) -> None:
        """Close the handles this process opened (the layouts stay: reads reopen what they need)."""
        if self._pid == os.getpid() or self._pid == -1:
            for handle in self._files.values():
                handle.close()
            for fd in self._fds.values():
                os.close(fd)
        self._files, self._fds = {}, {}
