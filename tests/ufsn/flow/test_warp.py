"""Backward warping: hand-worked shifts, a NumPy bilinear reference, masks and odd-size upsampling."""

import numpy as np
import torch

from ufsn.flow.warp import Warp, pixel_grid, upsample_flow, warp, warp_flops_hook, warp_macs


def _bilinear_reference(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """out(y, x) = img(y + v, x + u), bilinear, zero outside (C, H, W) / (2, H, W)."""
    c, h, w = img.shape
    out = np.zeros_like(img)
    for y in range(h):
        for x in range(w):
            sx, sy = x + flow[0, y, x], y + flow[1, y, x]
            if not (0 <= sx <= w - 1 and 0 <= sy <= h - 1):
                continue
            x0, y0 = int(np.floor(sx)), int(np.floor(sy))
            x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
            ax, ay = sx - x0, sy - y0
            out[:, y, x] = (
                img[:, y0, x0] * (1 - ax) * (1 - ay)
                + img[:, y0, x1] * ax * (1 - ay)
                + img[:, y1, x0] * (1 - ax) * ay
                + img[:, y1, x1] * ax * ay
            )
    return out


def test_integer_shift_hand_worked():
    img = torch.arange(20.0).view(1, 1, 4, 5)  # value = 5 y + x
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 0] = 1.0  # sample one pixel to the right
    out, valid = warp(img, flow)
    assert torch.equal(out[0, 0, :, :4], img[0, 0, :, 1:])
    assert valid[0, 0, :, 4].sum() == 0 and valid[0, 0, :, :4].all()
    assert (out[0, 0, :, 4] == 0).all()


def test_fractional_shift_is_linear_interpolation():
    img = torch.arange(20.0).view(1, 1, 4, 5)
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 1] = 0.25  # a quarter pixel down: value grows by 5 * 0.25
    out, _ = warp(img, flow)
    assert torch.allclose(out[0, 0, :3], img[0, 0, :3] + 1.25)


def test_matches_numpy_reference():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 7, 9, generator=g)
    flow = (torch.rand(1, 2, 7, 9, generator=g) - 0.5) * 6
    out, _ = warp(img, flow)
    ref = _bilinear_reference(img[0].numpy(), flow[0].numpy())
    np.testing.assert_allclose(out[0].numpy(), ref, atol=1e-5)


def test_zero_flow_identity_and_grid_convention():
    img = torch.rand(2, 3, 6, 8)
    out, valid = warp(img, torch.zeros(2, 2, 6, 8))
    assert torch.allclose(out, img, atol=1e-6) and valid.all()
    grid = pixel_grid(1, 2, 3)
    assert grid[0, 0, 1, 2] == 2 and grid[0, 1, 1, 2] == 1


def test_upsample_flow_scales_values_per_axis():
    flow = torch.ones(1, 2, 7, 5)
    up = upsample_flow(flow, (14, 15))
    assert up.shape == (1, 2, 14, 15)
    assert torch.allclose(up[:, 0], torch.full((1, 14, 15), 3.0)) and torch.allclose(
        up[:, 1], torch.full((1, 14, 15), 2.0)
    )


def test_gradient_reaches_flow_and_hook_counts():
    img = torch.rand(1, 2, 5, 5)
    flow = torch.full((1, 2, 5, 5), 0.3, requires_grad=True)
    warp(img, flow)[0].sum().backward()
    assert torch.isfinite(flow.grad).all() and flow.grad.abs().sum() > 0
    m = Warp()
    m.__flops__ = 0
    warp_flops_hook(m, (img, flow), m(img, flow))
    assert m.__flops__ == warp_macs(2, 5, 5) == 200
