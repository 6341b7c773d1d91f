"""Soft census transform and its distance (UnFlow, Meister et al. 2018), as pure functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Rec. 601 luma weights; the census compares intensities, not colours.
_LUMA = (0.299, 0.587, 0.114)


def to_gray255(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W) luma in [0, 255] (the scale UnFlow's constants assume)."""
    w = torch.tensor(_LUMA, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
    return (image * w).sum(dim=1, keepdim=True) * 255.0  # (B, 1, H, W)


def census_transform(gray: torch.Tensor, patch: int = 7) -> torch.Tensor:
    """Soft census: ``t / sqrt(0.81 + t^2)`` with ``t = I(x + o) - I(x)`` for every offset ``o`` of the patch.

    The soft sign keeps the transform differentiable; 0.81 = 0.9^2 makes |t| >= ~3 grey levels saturate.
    Neighbours outside the image are taken as zero (borders are masked by :func:`census_border_mask`).

    Args:
        gray: (B, 1, H, W) intensities in [0, 255].

    Returns:
        (B, patch*patch, H, W), channel ``k = (oy + r) * patch + (ox + r)``.
    """
    b, _, h, w = gray.shape
    r = patch // 2
    neighbours = F.unfold(gray, kernel_size=patch, padding=r)  # (B, P*P, H*W)
    neighbours = neighbours.view(b, patch * patch, h, w)  # (B, P*P, H, W)
    t = neighbours - gray  # (B, P*P, H, W)
    return t / torch.sqrt(0.81 + t * t)


def census_distance(c1: torch.Tensor, c2: torch.Tensor) -> torch.Tensor:
    """Soft Hamming distance ``sum_k d_k^2 / (0.1 + d_k^2)`` between two census transforms.

    Returns:
        (B, 1, H, W), in [0, P*P).
    """
    sq = (c1 - c2) ** 2  # (B, P*P, H, W)
    return (sq / (0.1 + sq)).sum(dim=1, keepdim=True)  # (B, 1, H, W)


def census_border_mask(height: int, width: int, patch: int = 7, device=None, dtype=None) -> torch.Tensor:
    """(1, 1, H, W) mask, 0 within ``patch // 2`` pixels of the border where the patch leaves the image."""
    r = patch // 2
    mask = torch.zeros(1, 1, height, width, device=device, dtype=dtype)
    mask[:, :, r : height - r, r : width - r] = 1.0
    return mask
