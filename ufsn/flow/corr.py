"""Cost volume (channel-normalised local correlation), two equivalent forms, and a ptflops-countable module.

``cost(x, d) = (1/C) q1(x) . q2(x + d)`` for every displacement ``d`` with ``|d_x|, |d_y| <= R``
(the seed's ``CostVolume^l = (1/N) q1^T q2``). Displacements outside the image see zero features.
Output channel ``k = (d_y + R) * (2R + 1) + (d_x + R)``: rows of displacements, x fastest.
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


def cost_volume_loop(f1: torch.Tensor, f2: torch.Tensor, max_displacement: int = 4) -> torch.Tensor:
    """Reference form: one product per displacement (81 small ops for R = 4).

    Memory-lean under autograd: every product saves only views of ``f1`` and the padded ``f2``.

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


class _CostVolumeFn(torch.autograd.Function):
    """Loop form with a hand-written backward that accumulates in place.

    Autograd's backward of the plain loop allocates a zero-filled padded tensor per shift (81 fills,
    81 adds per level); here both gradients are accumulated with ``addcmul_`` into one buffer each.
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


class _PatchCostVolumeFn(torch.autograd.Function):
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


# Maps of at most this many pixels use the patch form: measured on a 2-core CPU (batch 8, R = 4), the
# patch form is 1.5-4.6x faster at 6x6 .. 2x2 and 2.4-5x slower at 12x12 .. 24x24 than the in-place loop.
PATCH_FORM_MAX_PIXELS = 64
CORR_FORMS = ("auto", "loop", "patch")


def cost_volume(f1: torch.Tensor, f2: torch.Tensor, max_displacement: int = 4, form: str = "auto") -> torch.Tensor:
    """The default form, (B, K*K, H, W): ``auto`` takes the patch form (:class:`_PatchCostVolumeFn`) on maps of
    at most ``PATCH_FORM_MAX_PIXELS`` pixels and the loop with in-place backward (:class:`_CostVolumeFn`)
    above; both compute the same volume and gradients (tests compare them with the reference loop)."""
    if form not in CORR_FORMS:
        raise ValueError(f"cost volume form must be one of {', '.join(CORR_FORMS)}, got {form!r}")
    small = f1.shape[-2] * f1.shape[-1] <= PATCH_FORM_MAX_PIXELS
    fn = _PatchCostVolumeFn if form == "patch" or (form == "auto" and small) else _CostVolumeFn
    # float32 under autocast too: a channel mean of products over 32..196 channels in bf16/fp16 loses the
    # small differences between displacements that the decoder reads (autograd casts the gradients back).
    with torch.autocast(f1.device.type, enabled=False):
        return fn.apply(at_least_float32(f1), at_least_float32(f2), max_displacement)


def cost_volume_unfold(f1: torch.Tensor, f2: torch.Tensor, max_displacement: int = 4) -> torch.Tensor:
    """Vectorised form: ``unfold`` gathers all (2R+1)^2 shifted copies of ``f2`` at once, then one product.

    Faster on CPU for small maps, but materialises a (B, C, (2R+1)^2, H, W) tensor, which autograd
    keeps for the backward pass: 81x the feature memory.
    """
    r = max_displacement
    b, c, h, w = f1.shape
    k = 2 * r + 1
    patches = F.unfold(f2, kernel_size=k, padding=r)  # (B, C*K*K, H*W), zero padding
    patches = patches.view(b, c, k * k, h, w)  # (B, C, K*K, H, W)
    return (patches * f1.unsqueeze(2)).mean(dim=1)  # (B, K*K, H, W)


def cost_volume_macs(channels: int, height: int, width: int, max_displacement: int = 4) -> int:
    """Hand-computed multiply-accumulates: (2R+1)^2 . C . H . W (81 C H W for R = 4)."""
    return num_displacements(max_displacement) * channels * height * width


class CostVolume(nn.Module):
    """``nn.Module`` around the cost volume so ptflops can count it (:func:`cost_volume_flops_hook`)."""

    def __init__(self, *, max_displacement: int = 4, vectorised: bool = False, form: str = "auto"):
        super().__init__()
        self.max_displacement = max_displacement
        self.vectorised = vectorised  # autograd unfold form (keeps 81x the features for the backward)
        self.form = form  # of cost_volume: auto | loop | patch (the same numbers; see ufsn-bench perf flow --train)

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        if self.vectorised:
            return cost_volume_unfold(f1, f2, self.max_displacement)  # (B, (2R+1)^2, H, W)
        return cost_volume(f1, f2, self.max_displacement, self.form)  # (B, (2R+1)^2, H, W)


def cost_volume_flops_hook(module: CostVolume, inputs: tuple, output: torch.Tensor) -> None:
    """ptflops hook: exactly :func:`cost_volume_macs` per sample of the batch."""
    b, c, h, w = inputs[0].shape
    module.__flops__ += b * cost_volume_macs(c, h, w, module.max_displacement)
