"""Cost volume: NumPy reference, hand-worked values, both forms agree, ptflops counts 81 C H W."""

import numpy as np
import pytest
import torch

from ufsn.corr import CostVolume, cost_volume, cost_volume_loop, cost_volume_macs, cost_volume_unfold, num_displacements
from ufsn.flownet import FlowNet, FlowNetConfig, count_macs


def _reference(f1: np.ndarray, f2: np.ndarray, r: int) -> np.ndarray:
    c, h, w = f1.shape
    out = np.zeros(((2 * r + 1) ** 2, h, w), np.float64)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            k = (dy + r) * (2 * r + 1) + (dx + r)
            for y in range(h):
                for x in range(w):
                    if 0 <= y + dy < h and 0 <= x + dx < w:
                        out[k, y, x] = (f1[:, y, x] * f2[:, y + dy, x + dx]).sum() / c
    return out


@pytest.mark.parametrize("fn", [cost_volume, cost_volume_loop, cost_volume_unfold])
def test_matches_numpy_reference(fn):
    g = torch.Generator().manual_seed(1)
    f1, f2 = torch.randn(1, 3, 6, 7, generator=g), torch.randn(1, 3, 6, 7, generator=g)
    out = fn(f1, f2, 2)
    assert out.shape == (1, 25, 6, 7)
    np.testing.assert_allclose(out[0].numpy(), _reference(f1[0].numpy(), f2[0].numpy(), 2), atol=1e-5)


def test_hand_worked_peak_at_true_displacement():
    f1 = torch.zeros(1, 2, 9, 9)
    f1[0, :, 4, 4] = torch.tensor([1.0, 3.0])
    f2 = torch.zeros(1, 2, 9, 9)
    f2[0, :, 5, 7] = torch.tensor([2.0, 4.0])  # the feature moved by dx = +3, dy = +1
    out = cost_volume_loop(f1, f2, 4)
    k = (1 + 4) * 9 + (3 + 4)
    assert out[0, k, 4, 4] == pytest.approx((1 * 2 + 3 * 4) / 2)  # channel mean of the product = 7
    assert out.abs().sum() == pytest.approx(7.0)


def test_forms_agree_with_gradients():
    f1 = torch.randn(2, 4, 5, 6, requires_grad=True)
    f2 = torch.randn(2, 4, 5, 6, requires_grad=True)
    g = torch.randn(2, 81, 5, 6)
    grads = []
    for fn in (cost_volume_loop, cost_volume_unfold, cost_volume):
        a, b = torch.autograd.grad((fn(f1, f2, 4) * g).sum(), (f1, f2))
        grads.append((a, b))
    for a, b in grads[1:]:
        assert torch.allclose(grads[0][0], a, atol=1e-5) and torch.allclose(grads[0][1], b, atol=1e-5)


def test_ptflops_counts_module_exactly():
    from ptflops import get_model_complexity_info

    from ufsn.corr import cost_volume_flops_hook

    class Pair(torch.nn.Module):  # forward hooks see positional inputs only
        def __init__(self):
            super().__init__()
            self.corr = CostVolume(max_displacement=4)

        def forward(self, f1, f2):
            return self.corr(f1, f2)

    c, h, w = 8, 6, 10
    macs, _ = get_model_complexity_info(
        Pair(), (c, h, w), input_constructor=lambda _: {"f1": torch.rand(1, c, h, w), "f2": torch.rand(1, c, h, w)},
        as_strings=False, print_per_layer_stat=False, custom_modules_hooks={CostVolume: cost_volume_flops_hook},
    )  # fmt: skip
    assert macs == 81 * c * h * w == cost_volume_macs(c, h, w)
    assert num_displacements(4) == 81


def test_flownet_cost_volume_adds_hand_computed_macs():
    cfg = FlowNetConfig(channels=(8, 12, 16, 20), output_level=2, decoder_widths=(16,), context=False)
    net = FlowNet(cfg).eval()
    h, w = 64, 96
    with_ops = count_macs(net, h, w)
    without = count_macs(net, h, w, ignore_ops=True)
    # levels 4, 3, 2 decoded (sizes 4x6, 8x12, 16x24); warping at levels 3 and 2 (4 taps per value)
    corr = 81 * (20 * 4 * 6 + 16 * 8 * 12 + 12 * 16 * 24)
    warps = 4 * (16 * 8 * 12 + 12 * 16 * 24)
    assert with_ops - without == corr + warps
