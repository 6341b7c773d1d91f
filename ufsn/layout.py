"""The one conversion between image layouts: NumPy / OpenCV (..., H, W, C) and torch (..., C, H, W)."""

from __future__ import annotations

import numpy as np
import torch


def chw(array: np.ndarray) -> torch.Tensor:
    """(..., H, W, C) array -> (..., C, H, W) tensor: a strided view of the array's memory, copied first only
    when it is not C-contiguous (torch takes no negative strides, e.g. OpenCV's BGR -> RGB ``[..., ::-1]``)."""
    return torch.from_numpy(np.ascontiguousarray(array)).movedim(-1, -3)


def hwc(tensor: torch.Tensor) -> np.ndarray:
    """(..., C, H, W) tensor -> (..., H, W, C) array on the CPU (detached)."""
    return tensor.detach().movedim(-3, -1).cpu().numpy()


def unit_rgb(rgb: np.ndarray) -> torch.Tensor:
    """(..., H, W, 3) uint8 RGB -> (..., 3, H, W) float32 in [0, 1], the flow networks' input."""
    return chw(rgb).float() / 255.0
