"""A video's frame folder as both implementations read it: the frame paths in order, each frame as grey."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from pipeline.storage.paths import frame_name
from ufsn.errors import MissingInputError

_FRAME_RE = re.compile(r"img_(\d{5,})\.jpg")


def list_frames(folder: Path, expected: int = 0) -> list[Path]:
    """The frames img_00001.jpg .. img_N.jpg of ``folder``; raises naming the first missing file."""
    indices = sorted(int(m.group(1)) for p in folder.iterdir() if (m := _FRAME_RE.fullmatch(p.name)))
    count = max(indices[-1] if indices else 0, expected)
    present = set(indices)
    for i in range(1, count + 1):
        if i not in present:
            raise MissingInputError(f"missing frame {folder / frame_name(i)} ({len(indices)} of {count} present)")
    return [folder / frame_name(i) for i in range(1, count + 1)]


def read_grey(path: Path) -> np.ndarray:
    """The (H, W) uint8 luma plane of the JPEG frame at ``path``; raises naming an unreadable file."""
    import cv2

    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)  # (H, W) uint8; the JPEG's luma plane
    if grey is None:
        raise OSError(f"cannot read frame {path}")
    return grey
