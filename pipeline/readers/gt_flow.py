"""Exact ground-truth flow (synthetic set) served as TV-L1 codes, with the reader interface of ShardReader.

The ``gtflow`` method trains the temporal stream on these codes instead of TV-L1's: the same
classifier, sampling and augmentation on perfect flow, so its accuracy bounds what any flow source
can give the two-stream network under the same budget. Codes are PNG (lossless), so the only
difference from the exact flow is the code's rounding (half a step, 20/255 px).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.storage.flowcode import quantize_flow
from pipeline.storage.paths import DatasetPaths
from ufsn.errors import InputError, MissingInputError


class GroundTruthFlowReader:
    """Flow pairs of ``flow_gt/<video_id>.npz`` as (x, y) PNG codes; RGB is another reader's job."""

    def __init__(self, root: Path, dataset: str):
        self.paths = DatasetPaths(Path(root), dataset)
        if not self.paths.flow_gt.is_dir():
            raise MissingInputError(
                f"no ground-truth flow in {self.paths.flow_gt}: only the synthetic set has it (ufsn-data synth)"
            )
        self._pairs: dict[str, int] = {}  # per-process cache: one int per video
        # The last video read: a clip reads its K (or N test) snippets one after another from one file.
        self._last: tuple[str, np.ndarray] | None = None

    def _load(self, video_id: str) -> np.ndarray:
        if self._last is not None and self._last[0] == video_id:
            return self._last[1]
        path = self.paths.flow_gt_npz(video_id)
        try:
            with np.load(path) as npz:
                flow = npz["flow"]  # (T-1, H, W, 2) float16 px
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: unreadable ground-truth flow ({exc})") from exc
        self._last = (video_id, flow)
        return flow

    def has(self, video_id: str) -> bool:
        """True when the video has a ground-truth flow file."""
        return self.paths.flow_gt_npz(video_id).is_file()

    def num_flow_pairs(self, video_id: str) -> int:
        """Number of ground-truth flow pairs (frames - 1); 0 without a file."""
        if video_id not in self._pairs:
            self._pairs[video_id] = len(self._load(video_id)) if self.has(video_id) else 0
        return self._pairs[video_id]

    def read_flow(self, video_id: str, first: int, count: int) -> list[tuple[bytes, bytes]]:
        """(x, y) PNG code bytes of pairs ``first..first+count-1`` (0-based), as the TV-L1 JPEGs are coded."""
        import cv2

        flow = self._load(video_id)
        if first < 0 or first + count > len(flow):
            raise IndexError(f"{self.paths.flow_gt_npz(video_id)}: pairs {first}..{first + count - 1} of {len(flow)}")
        codes = quantize_flow(flow[first : first + count].astype(np.float32))  # (count, H, W, 2) uint8
        return [(_png(cv2, pair[..., 0]), _png(cv2, pair[..., 1])) for pair in codes]

    def close(self) -> None:
        """Nothing to close (files are opened per read); present for interface parity."""


def _png(cv2, plane: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", np.ascontiguousarray(plane))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buffer.tobytes()
