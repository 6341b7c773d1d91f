"""Crops, flips and normalisation of snippet groups, as TSN trains and tests.

Images arrive as uint8 arrays (N, H, W, C) - every image of one clip, so one crop and one flip
apply to all of them (a flip of only some frames would reverse the motion between them).
Flow codes are single-channel JPEG images stacked x, y, x, y, ...; flipping mirrors x motion,
so an x code q becomes 255 - q (the code is symmetric around 127.5 = zero motion).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
TSN_SCALES = (1.0, 0.875, 0.75, 0.66)


class Box(NamedTuple):
    """A crop window in pixels."""

    x: int
    y: int
    w: int
    h: int


def multiscale_box(height: int, width: int, rng: np.random.Generator, scales=TSN_SCALES, max_distort: int = 1) -> Box:
    """TSN's multi-scale corner crop: side lengths from ``scales`` x short side, at one of 13 fixed spots."""
    base = min(height, width)
    sizes = [int(base * s) for s in scales]
    pairs = [(w, h) for i, h in enumerate(sizes) for j, w in enumerate(sizes) if abs(i - j) <= max_distort]
    w, h = pairs[rng.integers(len(pairs))]
    dx, dy = (width - w) // 4, (height - h) // 4
    # 5 corners/centre plus 8 more of TSN's "more_fix_crop" positions
    spots = [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2), (0, 2), (4, 2), (2, 4), (2, 0), (1, 1), (3, 1), (1, 3), (3, 3)]
    sx, sy = spots[rng.integers(len(spots))]
    return Box(sx * dx, sy * dy, w, h)


def center_box(height: int, width: int, size: int) -> Box:
    """The centred ``size`` x ``size`` window."""
    return Box((width - size) // 2, (height - size) // 2, size, size)


def five_boxes(height: int, width: int, size: int) -> list[Box]:
    """Four corners then the centre (10-crop = these five, then the same five flipped)."""
    right, bottom = width - size, height - size
    return [
        Box(0, 0, size, size),
        Box(right, 0, size, size),
        Box(0, bottom, size, size),
        Box(right, bottom, size, size),
        center_box(height, width, size),
    ]


def crop_resize(images: np.ndarray, box: Box, size: int) -> np.ndarray:
    """(N, H, W, C) -> (N, size, size, C): the box of every image, resized bilinearly when needed."""
    import cv2

    crop = images[:, box.y : box.y + box.h, box.x : box.x + box.w]
    if (box.w, box.h) == (size, size):
        return np.ascontiguousarray(crop)
    return np.stack(
        [cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR).reshape(size, size, -1) for im in crop]
    )


def resize_short_side(images: np.ndarray, short: int) -> np.ndarray:
    """(N, H, W, C) -> (N, H', W', C) with min(H', W') = ``short`` (aspect kept)."""
    import cv2

    h, w = images.shape[1:3]
    if min(h, w) == short:
        return images
    scale = short / min(h, w)
    size = (max(short, round(w * scale)), max(short, round(h * scale)))
    channels = images.shape[3]
    return np.stack(
        [cv2.resize(im, size, interpolation=cv2.INTER_LINEAR).reshape(size[1], size[0], channels) for im in images]
    )


def hflip(images: np.ndarray, flow_x: np.ndarray | None = None) -> np.ndarray:
    """Mirror (N, H, W, C) left-right; images marked in ``flow_x`` (N,) bool are x codes: q -> 255 - q."""
    out = images[:, :, ::-1].copy()
    if flow_x is not None:
        out[flow_x] = 255 - out[flow_x]
    return out


def normalize_rgb(images: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 with ImageNet mean and std (the backbones' pretraining)."""
    return (images.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
