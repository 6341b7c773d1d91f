"""Cost volume: NumPy reference, hand-worked values, the model's form and both its kernels agree with the
reference loop, ptflops counts 81 C H W."""

import numpy as np
import pytest
import torch

from ufsn.flow.corr import (
    PATCH_FORM_MAX_PIXELS,
    CostVolume,
    ReferenceCostVolume,
    cost_volume,
    cost_volume_macs,
    cost_volume_patches,
    cost_volume_reference,
    cost_volume_shifts,
    num_displacements,
)
from ufsn.flow.net import FlowNet, FlowNetConfig, count_macs


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


@pytest.mark.parametrize("fn", [cost_volume, cost_volume_reference, cost_volume_patches, cost_volume_shifts])
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
    out = cost_volume_reference(f1, f2, 4)
    k = (1 + 4) * 9 + (3 + 4)
    assert out[0, k, 4, 4] == pytest.approx((1 * 2 + 3 * 4) / 2)  # channel mean of the product = 7
    assert out.abs().sum() == pytest.approx(7.0)


def test_kernels_agree_with_the_reference_and_its_gradients():
    f1 = torch.randn(2, 4, 5, 6, requires_grad=True)
    f2 = torch.randn(2, 4, 5, 6, requires_grad=True)
    g = torch.randn(2, 81, 5, 6)
    grads = []
    for fn in (cost_volume_reference, cost_volume_patches, cost_volume_shifts, cost_volume):
        a, b = torch.autograd.grad((fn(f1, f2, 4) * g).sum(), (f1, f2))
        grads.append((a, b))
    for a, b in grads[1:]:
        assert torch.allclose(grads[0][0], a, atol=1e-5) and torch.allclose(grads[0][1], b, atol=1e-5)


def test_ptflops_counts_module_exactly():
    from ptflops import get_model_complexity_info

    from ufsn.flow.corr import cost_volume_flops_hook

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


# Either side of the switch between the kernels, square and not.
SIZES = [(2, 2), (3, 5), (6, 6), (7, 7), (7, 8), (8, 8), (12, 12)]


@pytest.mark.parametrize("fn", [cost_volume, cost_volume_patches, cost_volume_shifts])
@pytest.mark.parametrize("size", SIZES)
def test_every_form_matches_the_numpy_reference_and_its_gradient(fn, size):
    g = torch.Generator().manual_seed(3)
    f1 = torch.randn(2, 5, *size, generator=g, dtype=torch.float64, requires_grad=True)
    f2 = torch.randn(2, 5, *size, generator=g, dtype=torch.float64, requires_grad=True)
    out = fn(f1, f2, 4)
    for b in range(2):
        reference = _reference(f1[b].detach().numpy(), f2[b].detach().numpy(), 4)
        np.testing.assert_allclose(out[b].detach().numpy(), reference, atol=1e-12)
    weights = torch.randn(out.shape, generator=g, dtype=torch.float64)
    got = torch.autograd.grad((out * weights).sum(), (f1, f2))
    want = torch.autograd.grad((cost_volume_reference(f1, f2, 4) * weights).sum(), (f1, f2))  # plain autograd
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("size", SIZES)
def test_the_cost_volume_picks_its_kernel_by_size(size):
    f1, f2 = torch.randn(1, 3, *size, requires_grad=True), torch.randn(1, 3, *size, requires_grad=True)
    small = size[0] * size[1] <= PATCH_FORM_MAX_PIXELS
    # The same numbers either way, so the graph tells: each kernel is its own autograd Function.
    assert cost_volume_patches(f1, f2, 4).grad_fn.name() == "_PatchesFnBackward"
    assert cost_volume_shifts(f1, f2, 4).grad_fn.name() == "_ShiftsFnBackward"
    assert cost_volume(f1, f2, 4).grad_fn.name() == ("_PatchesFnBackward" if small else "_ShiftsFnBackward")


def test_flownet_takes_a_cost_volume_of_its_radius_only():
    cfg = FlowNetConfig(channels=(8, 8), output_level=1, feature_proj=8, decoder_widths=(8,), context=False)
    assert type(FlowNet(cfg).corr) is CostVolume
    assert type(FlowNet(cfg, corr=ReferenceCostVolume(max_displacement=4)).corr) is ReferenceCostVolume
    with pytest.raises(ValueError, match="cost volume radius 3 != max_displacement 4"):
        FlowNet(cfg, corr=ReferenceCostVolume(max_displacement=3))


def test_training_step_loss_and_gradients_match_the_reference_loop():
    from bench.stage1 import load_flow_config
    from ufsn.flow.train import compute_loss

    cfg = load_flow_config("flow_synthetic_study.toml")  # 5 levels: 24x24 .. 2x2 maps at 48x48 crops
    g = torch.Generator().manual_seed(0)
    img1 = torch.rand(2, 3, 48, 48, generator=g)
    img2 = img1.roll(3, dims=-1) * 0.9
    results = []
    for corr in (ReferenceCostVolume, CostVolume):  # separate nets, the same seed: only the cost volume differs
        torch.manual_seed(0)
        net = FlowNet(cfg.resolved_net(), corr=corr(max_displacement=cfg.net.max_displacement)).train()
        with torch.no_grad():  # non-zero flow heads, so every level's cost volume reaches the loss
            for p in net.parameters():
                p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
        loss, _ = compute_loss(net, cfg, 0, img1, img2, torch.zeros(2, 2, 48, 48), torch.ones(2, 1, 48, 48))
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}))
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_b, loss_a, rtol=1e-5, atol=1e-6)
    for name, grad in grads_a.items():  # float32 sums in another order: relative to the gradient's norm
        assert (grads_b[name] - grad).norm() <= 1e-3 * grad.norm() + 1e-8, name
