"""TSN snippet sampling: which items (frames or flow pairs) of a video each segment reads.

All indices are 0-based item indices (frame i is ``img_{i+1:05d}.jpg``; flow pair i is
``flow_{x,y}_{i+1:05d}.jpg``). A snippet is ``length`` consecutive items starting at an offset.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Modality = Literal["rgb", "flow", "rgbpair"]  # what a snippet's items are: frames | flow pairs | frames for a flow net
Mode = Literal["train", "val", "test"]  # random snippet per segment | K centred | N uniform


def valid_starts(items: int, length: int) -> int:
    """Number of offsets at which a whole snippet fits (0 when the video is shorter than one snippet)."""
    return max(items - length + 1, 0)


def train_offsets(items: int, length: int, segments: int, rng: np.random.Generator) -> np.ndarray:
    """TSN training: split the valid starts into ``segments`` equal parts, draw one start in each.

    Videos with fewer starts than segments get sorted random starts, or all zeros when even
    that is impossible (TSN's ``_sample_indices``).

    Returns:
        (K,) int64 offsets.
    """
    starts = valid_starts(items, length)
    duration = starts // segments
    if duration > 0:
        return np.arange(segments) * duration + rng.integers(0, duration, size=segments)
    if items > segments and starts > 0:  # TSN tests the item count here, not the starts
        return np.sort(rng.integers(0, starts, size=segments))
    return np.zeros(segments, dtype=np.int64)


def uniform_offsets(items: int, length: int, count: int) -> np.ndarray:
    """Deterministic: the centres of ``count`` equal parts of the valid starts (TSN val and test).

    With ``count`` = K this is TSN's validation sampling; with 25 it is the CoViAR / DMC-Net test
    protocol of 25 uniformly spaced snippets (repeated offsets when the video is short).

    Returns:
        (count,) int64 offsets.
    """
    starts = valid_starts(items, length)
    if starts == 0:
        return np.zeros(count, dtype=np.int64)
    tick = starts / count
    return (tick / 2.0 + tick * np.arange(count)).astype(np.int64)


def snippet_indices(offsets: np.ndarray, length: int, items: int) -> np.ndarray:
    """(K,) offsets -> (K, length) item indices; past the end the last item repeats (short videos)."""
    if items < 1:
        raise ValueError("a video needs at least one item to sample from")
    return np.minimum(offsets[:, None] + np.arange(length)[None, :], items - 1)
