"""Cost volume (channel-normalised local correlation): the model's form, the loop it is checked against, a module.

``cost(x, d) = (1/C) q1(x) . q2(x + d)`` for every displacement ``d`` with ``|d_x|, |d_y| <= R``
(the seed's ``CostVolume^l = (1/N) q1^T q2``). Displacements outside the image see zero features.
Output channel ``k = (d_y + R) * (2R + 1) + (d_x + R)``: rows of displacements, x fastest.

:func:`cost_volume` is the one form the model uses; it picks one of two kernels by the map's size, and
both give the numbers of :func:`cost_volume_reference`, the plain loop, to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 when it is in a half type (bf16/fp16 under autocast); float32 and float64 stay."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def num_displacements(max_displacement: int) -> int:
    """Number of output channels: (2R + 1)^2, 81 for R = 4."""
    return (2 * max_displacement + 1) ** 2


def cost_volume_reference(f1: torch.Tensor, f2: torch.Tensor, max_displacement: int = 4) -> torch.Tensor:
    """Reference: one product per displacement, autograd's backward. Tests and benchmarks compare
    :func:`cost_volume` with it; the model does not call it.

    Args:
        f1, f2: (B, C, H, W) features of the first and (warped) second image.

    Returns:
        (B, (2R+1)^2, H, W) cost volume.
    """
    r = max_displacement
    _, c, h, w = f1.shape
    f2p = F.pad(f2, (r, r, r, r))  # (B, C, H+2R, W+2R), zeros outside the image
    costs = [
        (f1 * f2p[:, :, dy : dy + h, dx : dx + w]).mean(dim=1)  # (B, H, W)
        for dy in range(2 * r + 1)
        for dx in range(2 * r + 1)
    ]
    return torch.stack(costs, dim=1)  # (B, (2R+1)^2, H, W)


class _ShiftsFn(torch.autograd.Function):
    """The loop with a hand-written backward that accumulates in place.

    Autograd's backward of the plain loop allocates a zero-filled padded tensor per shift (81 fills,
    81 adds per level); here both gradients are accumulated with ``addcmul_`` into one buffer each,
    and only views of ``f1`` and the padded ``f2`` are kept for the backward.
    """

    @staticmethod
    def forward(ctx, f1: torch.Tensor, f2: torch.Tensor, r: int) -> torch.Tensor:
        _, c, h, w = f1.shape
        f2p = F.pad(f2, (r, r, r, r))  # (B, C, H+2R, W+2R)
        ctx.save_for_backward(f1, f2p)
        ctx.r = r
        k = 2 * r + 1
        costs = [(f1 * f2p[:, :, dy : dy + h, dx : dx + w]).sum(dim=1) for dy in range(k) for dx in range(k)]
        return torch.stack(costs, dim=1).div_(c)  # (B, K*K, H, W)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        f1, f2p = ctx.saved_tensors
        r, (_, c, h, w) = ctx.r, f1.shape
        k = 2 * r + 1
        grad = grad / c  # the 1/C of the channel mean
        g1, g2p = torch.zeros_like(f1), torch.zeros_like(f2p)
        for dy in range(k):
            for dx in range(k):
                gk = grad[:, dy * k + dx].unsqueeze(1)  # (B, 1, H, W)
                g1.addcmul_(gk, f2p[:, :, dy : dy + h, dx : dx + w])
                g2p[:, :, dy : dy + h, dx : dx + w].addcmul_(gk, f1)
        return g1, g2p[:, :, r : r + h, r : r + w], None  # (B, C, H, W) each


def cost_volume_shifts(f1: torch.Tensor, f2: torch.Tensor, max_displacement: int = 4) -> torch.Tensor:
    """Kernel of :func:`cost_volume` on large maps: 81 shifted products, in-place backward; (B, K*K, H, W)."""
    return _ShiftsFn.apply(f1, f2, max_displacement)


class _PatchesFn(torch.autograd.Function):
    """All displacements at once: ``unfold`` gathers the (2R+1)^2 shifted copies of ``f2``, one product and
    one channel sum give the volume; the backward recomputes the patches instead of keeping them and
    scatters the ``f2`` gradient back with ``fold``. A handful of ops in place of the loop's 81 per pass,
    for a transient (B, C, K*K, H*W) buffer: the right trade on coarse levels, where op overhead dominates."""

    @staticmethod
    def forward(ctx, f1: torch.Tensor, f2: torch.Tensor, r: int) -> torch.Tensor:
        b, c, h, w = f1.shape
        k = 2 * r + 1
        ctx.save_for_backward(f1, f2)
        ctx.r = r
        patches = F.unfold(f2, kernel_size=k, padding=r).view(b, c, k * k, h * w)  # (B, C, K*K, HW), zero padding
        volume = torch.einsum("bcp,bckp->bkp", f1.reshape(b, c, h * w), patches)  # (B, K*K, HW)
        return volume.view(b, k * k, h, w).div_(c)  # (B, K*K, H, W)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        f1, f2 = ctx.saved_tensors
        r, (b, c, h, w) = ctx.r, f1.shape
        k = 2 * r + 1
        grad = (grad / c).reshape(b, 1, k * k, h * w)  # (B, 1, K*K, HW)
        patches = F.unfold(f2, kernel_size=k, padding=r).view(b, c, k * k, h * w)  # (B, C, K*K, HW)
        g1 = (patches * grad).sum(dim=2).view(b, c, h, w)  # (B, C, H, W)
        g2 = F.fold((f1.reshape(b, c, 1, h * w) * grad).reshape(b, c * k * k, h * w), (h, w), kernel_size=k,
                    padding=r)  # (B, C, H, W)  # fmt: skip
        return g1, g2, None


def cost_volume_patches(f1: torch.Tensor, f2: torch.Tensor, max_displacement: int = 4) -> torch.Tensor:
    """Kernel of :func:`cost_volume` on small maps (:class:`_PatchesFn`); (B, K*K, H, W)."""
    return _PatchesFn.apply(f1, f2, max_displacement)


# Maps of at most this many pixels take the patch kernel, larger ones the shifts. Forward + backward on a 2-core
# CPU (batch 8, R = 4): the patch kernel is 1.5-4.6x faster at 6x6 .. 2x2 and 2.4-5x slower at 12x12 .. 24x24.
# (Keeping the patches for the backward instead of recomputing them measured 1.1-1.8x faster still, and an 8x8
# map favoured the shifts; adopting either would change the demo's numbers by float rounding, so neither is.)
PATCH_FORM_MAX_PIXELS = 64


def cost_volume(f1: torch.Tensor, f2: torch.Tensor, max_displacement: int = 4) -> torch.Tensor:
    """The model's cost volume, (B, K*K, H, W): :func:`cost_volume_patches` on maps of at most
    ``PATCH_FORM_MAX_PIXELS`` pixels, :func:`cost_volume_shifts` above (the same numbers either way).

    Args:
        f1, f2: (B, C, H, W) features of the first and (warped) second image.
    """
    small = f1.shape[-2] * f1.shape[-1] <= PATCH_FORM_MAX_PIXELS
    kernel = cost_volume_patches if small else cost_volume_shifts
    # float32 under autocast too: a channel mean of products over 32..196 channels in bf16/fp16 loses the
    # small differences between displacements that the decoder reads (autograd casts the gradients back).
    with torch.autocast(f1.device.type, enabled=False):
        return kernel(at_least_float32(f1), at_least_float32(f2), max_displacement)


def cost_volume_macs(channels: int, height: int, width: int, max_displacement: int = 4) -> int:
    """Hand-computed multiply-accumulates: (2R+1)^2 . C . H . W (81 C H W for R = 4)."""
    return num_displacements(max_displacement) * channels * height * width


class CostVolume(nn.Module):
    """``nn.Module`` around :func:`cost_volume` so ptflops can count it (:func:`cost_volume_flops_hook`)."""

    def __init__(self, *, max_displacement: int = 4):
        super().__init__()
        self.max_displacement = max_displacement

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        return cost_volume(f1, f2, self.max_displacement)  # (B, (2R+1)^2, H, W)


class ReferenceCostVolume(CostVolume):
    """:func:`cost_volume_reference` as a module, for ``FlowNet(config, corr=...)`` in benchmarks and tests."""

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        with torch.autocast(f1.device.type, enabled=False):  # in float32, as cost_volume
            return cost_volume_reference(at_least_float32(f1), at_least_float32(f2), self.max_displacement)


def cost_volume_flops_hook(module: CostVolume, inputs: tuple, output: torch.Tensor) -> None:
    """ptflops hook: exactly :func:`cost_volume_macs` per sample of the batch."""
    b, c, h, w = inputs[0].shape
    module.__flops__ += b * cost_volume_macs(c, h, w, module.max_displacement)
