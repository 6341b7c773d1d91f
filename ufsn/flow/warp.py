"""Backward warping with pixel-unit flow (``grid_sample``), plus an ``nn.Module`` wrapper for ptflops."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pixel_grid(batch: int, height: int, width: int, device=None, dtype=None) -> torch.Tensor:
    """Pixel coordinates of every pixel centre, channel 0 = x, channel 1 = y.

    Returns:
        (B, 2, H, W) tensor; ``grid[:, 0, i, j] == j`` and ``grid[:, 1, i, j] == i``.
    """
    ys = torch.arange(height, device=device, dtype=dtype)  # (H,)
    xs = torch.arange(width, device=device, dtype=dtype)  # (W,)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    return torch.stack((gx, gy)).unsqueeze(0).expand(batch, 2, height, width)  # (B, 2, H, W)


def warp(image: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Backward-warp ``image`` by ``flow``: ``out(x) = image(x + flow(x))``, bilinear.

    Args:
        image: (B, C, H, W), e.g. the second frame or its features.
        flow: (B, 2, H, W) in pixels of this resolution; channel 0 = x (right), 1 = y (down).

    Returns:
        warped (B, C, H, W), samples outside the image are zero;
        valid (B, 1, H, W) float mask, 1 where ``x + flow`` lies inside the image.
    """
    b, _, h, w = image.shape
    # Positions in float32 at least, under autocast too: bf16 sample positions are 0.25 px apart from 32 px
    # on, fp16's 0.03 px from 32 px; the warped image keeps that dtype (the next conv casts it as autocast says).
    dtype = torch.promote_types(torch.promote_types(flow.dtype, image.dtype), torch.float32)
    with torch.autocast(image.device.type, enabled=False):
        coords = pixel_grid(b, h, w, image.device, dtype) + flow.to(dtype)  # (B, 2, H, W) sample positions, px
        # align_corners=True maps -1 and +1 to the centres of the first and last pixels, which is
        # exactly the pixel-index convention above: x_norm = 2 x / (W - 1) - 1. With the default
        # (False, since PyTorch 1.3) the same formula would misregister by half a pixel per side.
        scale = torch.tensor([max(w - 1, 1), max(h - 1, 1)], device=image.device, dtype=dtype)
        grid = 2.0 * coords / scale.view(1, 2, 1, 1) - 1.0  # (B, 2, H, W) normalised
        grid = grid.permute(0, 2, 3, 1)  # (B, H, W, 2) as grid_sample wants
        warped = F.grid_sample(image.to(dtype), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        inside_x = (coords[:, 0] >= 0) & (coords[:, 0] <= w - 1)  # (B, H, W)
        inside_y = (coords[:, 1] >= 0) & (coords[:, 1] <= h - 1)  # (B, H, W)
        valid = (inside_x & inside_y).unsqueeze(1).to(dtype)  # (B, 1, H, W)
        return warped * valid, valid


def upsample_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a pixel-unit flow field to ``size`` (H, W), scaling each component by its size ratio.

    The ratio is exact per axis (``W_out / W_in``), not a fixed 2, so odd sizes (7 -> 14 -> 28 ...)
    keep pixel units right.
    """
    h_in, w_in = flow.shape[-2:]
    h, w = size
    up = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=True)  # (B, 2, H, W)
    ratio = torch.tensor([w / w_in, h / h_in], device=flow.device, dtype=flow.dtype)
    return up * ratio.view(1, 2, 1, 1)


def warp_macs(channels: int, height: int, width: int) -> int:
    """Multiply-accumulates of bilinear warping: 4 taps per output value."""
    return 4 * channels * height * width


class Warp(nn.Module):
    """``nn.Module`` around :func:`warp`; ptflops counts it with :func:`warp_flops_hook`."""

    def forward(self, image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return warp(image, flow)[0]


def warp_flops_hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
    """ptflops hook: adds :func:`warp_macs` for every sample of the batch."""
    b, c, h, w = output.shape
    module.__flops__ += b * warp_macs(c, h, w)
