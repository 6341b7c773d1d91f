"""Loss terms against hand-worked values; NaN-free gradients on degenerate inputs; the true flow wins."""

import math

import pytest
import torch

from ufsn.flow.losses import (
    LossConfig,
    census_loss,
    fb_occlusion_mask,
    masked_mean,
    photometric_diff,
    smooth_loss,
    supervised_loss,
    unsupervised_loss,
)
from ufsn.flow.net import FlowNet, FlowNetConfig, FlowOutput
from ufsn.flow.warp import warp


def test_photometric_hand_worked():
    a, b = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.3)
    mask = torch.tensor([1.0, 1.0, 1.0, 0.0]).view(1, 1, 2, 2)
    assert photometric_diff(a, b, mask, eps=0.0).item() == pytest.approx(0.3, abs=1e-6)
    assert masked_mean(torch.arange(4.0).view(1, 1, 2, 2), mask).item() == pytest.approx(1.0, abs=1e-5)


def test_smooth_hand_worked():
    flow = torch.zeros(1, 2, 3, 3)
    flow[0, 0, :, 2] = 1.0  # a unit step in u between columns 1 and 2
    img = torch.zeros(1, 3, 3, 3)
    # x: |du| mean over 2 channels = 0.5 at 3 of 6 positions -> 0.25; y: 0
    assert smooth_loss(flow, img, alpha=10).item() == pytest.approx(0.25)
    img[0, :, :, 2] = 0.1  # an image edge at the same place damps it by exp(-10 * 0.1)
    assert smooth_loss(flow, img, alpha=10).item() == pytest.approx(0.25 * math.exp(-1.0), rel=1e-5)


def test_census_zero_for_identical_and_robust_floor():
    img = torch.rand(1, 3, 12, 12)
    mask = torch.ones(1, 1, 12, 12)
    assert census_loss(img, img, mask).item() == pytest.approx(0.01**0.4, rel=1e-4)
    assert census_loss(img, torch.rand(1, 3, 12, 12), mask).item() > 0.5


def test_fb_mask_constant_flow_and_inverse_is_all_visible():
    fw = torch.zeros(1, 2, 10, 10)
    fw[:, 0] = 2.0
    mask = fb_occlusion_mask(fw, -fw)
    # UFlow's analytic test: a constant flow and its exact inverse occlude nothing (away from the
    # right border, where the backward flow is sampled outside the image and reads zero)
    assert mask[..., :8].all() and not mask[..., 9:].any()
    assert not fb_occlusion_mask(fw, fw)[..., :8].any()


def _textured_pair(shift=(2.0, 1.0), size=32):
    g = torch.Generator().manual_seed(3)
    base = torch.nn.functional.avg_pool2d(torch.rand(1, 3, size + 8, size + 8, generator=g), 3, 1, 1)
    flow = torch.zeros(1, 2, size, size)
    flow[:, 0], flow[:, 1] = shift
    img2 = base[:, :, 4 : 4 + size, 4 : 4 + size]
    padded_flow = torch.zeros(1, 2, size + 8, size + 8)
    padded_flow[:, 0], padded_flow[:, 1] = shift
    img1 = warp(base, padded_flow)[0][:, :, 4 : 4 + size, 4 : 4 + size]  # I1(x) = I2(x + flow)
    return img1, img2, flow


def test_loss_lower_at_true_flow_than_zero():
    img1, img2, flow = _textured_pair()
    cfg = LossConfig(level_weights=(1.0,))
    true_loss, _ = unsupervised_loss(img1, img2, FlowOutput([flow], flow), cfg)
    zero_loss, metrics = unsupervised_loss(img1, img2, FlowOutput([flow * 0], flow * 0), cfg)
    assert true_loss < 0.5 * zero_loss
    assert set(metrics) == {"loss", "diff", "census", "smooth"}


@pytest.mark.parametrize("kind", ["flat", "black", "saturated", "tiny8"])
def test_nan_free_gradients_on_degenerate_inputs(kind):
    size = 8 if kind == "tiny8" else 64
    value = {"flat": 0.5, "black": 0.0, "saturated": 1.0, "tiny8": 0.3}[kind]
    img = torch.full((1, 3, size, size), value)
    net = FlowNet(FlowNetConfig(output_level=2) if size > 8 else FlowNetConfig(channels=(8, 8, 8), output_level=1))
    out = net(img, img)
    occ = fb_occlusion_mask(out.full, -out.full)
    loss, metrics = unsupervised_loss(img, img, out, LossConfig(), occ)
    loss.backward()
    assert math.isfinite(metrics["loss"])
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_supervised_loss_zero_at_truth():
    flow = torch.ones(1, 2, 16, 16)
    coarse = torch.full((1, 2, 8, 8), 0.5)
    loss, metrics = supervised_loss(FlowOutput([coarse, flow], flow), flow, LossConfig(level_weights=(1.0, 1.0)))
    assert loss.item() == pytest.approx(0.0, abs=1e-6) and metrics["epe"] == pytest.approx(0.0, abs=1e-6)
