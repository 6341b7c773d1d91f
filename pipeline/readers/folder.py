"""Read frames and flow pairs from mmaction2-style folders, with the same interface as ShardReader."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.storage.paths import DatasetPaths, flow_names, frame_name, inside


def count_items(folder: Path, prefix: str) -> int:
    """Number of files in ``folder`` whose name starts with ``prefix`` (0 when the folder is absent)."""
    try:
        with os.scandir(folder) as entries:
            return sum(entry.name.startswith(prefix) for entry in entries)
    except FileNotFoundError:
        return 0


class FolderReader:
    """JPEG bytes of ``frames/<vid>/img_*.jpg`` and ``tvl1/<vid>/flow_{x,y}_*.jpg``.

    Counts are read from the folder on first use and cached (a per-process cache of one
    int per video, so a DataLoader worker lists each folder at most once).
    """

    def __init__(self, root: Path, dataset: str, flow_ext: str = "jpg", flow_dir: Path | None = None):
        self.paths = DatasetPaths(Path(root), dataset)
        self.flow_ext = flow_ext
        self.flow_dir = Path(flow_dir) if flow_dir is not None else self.paths.tvl1  # another flow source
        self._counts: dict[tuple[str, str], int] = {}

    def _count(self, video_id: str, modality: str) -> int:
        key = (video_id, modality)
        if key not in self._counts:
            if modality == "rgb":
                self._counts[key] = count_items(inside(self.paths.frames, video_id), "img_")
            else:
                self._counts[key] = count_items(inside(self.flow_dir, video_id), "flow_x_")
        return self._counts[key]

    def has(self, video_id: str) -> bool:
        """True when ``frames/<video_id>`` exists."""
        return inside(self.paths.frames, video_id).is_dir()

    def num_frames(self, video_id: str) -> int:
        """Number of RGB frames of ``video_id``."""
        return self._count(video_id, "rgb")

    def num_flow_pairs(self, video_id: str) -> int:
        """Number of TV-L1 flow pairs of ``video_id``."""
        return self._count(video_id, "flow")

    def read_rgb(self, video_id: str, first: int, count: int) -> list[bytes]:
        """JPEG bytes of frames ``first..first+count-1`` (0-based; files are 1-indexed)."""
        folder = inside(self.paths.frames, video_id)
        return [(folder / frame_name(i + 1)).read_bytes() for i in range(first, first + count)]

    def read_flow(self, video_id: str, first: int, count: int) -> list[tuple[bytes, bytes]]:
        """(x, y) JPEG bytes of flow pairs ``first..first+count-1`` (0-based)."""
        folder = inside(self.flow_dir, video_id)
        pairs = []
        for i in range(first, first + count):
            x_name, y_name = flow_names(i + 1, self.flow_ext)
            pairs.append(((folder / x_name).read_bytes(), (folder / y_name).read_bytes()))
        return pairs

    def close(self) -> None:
        """Nothing to close (files are opened per read); present for interface parity."""
