"""Unsupervised flow losses (seed: ``L = (l1 L_diff + l2 L_census + l3 L_smooth) / M``), pure functions.

Every term is a masked mean over pixels, which is the seed's normalisation by the pixel count M.
Images are (B, 3, H, W) RGB in [0, 1]; flows (B, 2, H, W) in pixels of their resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ufsn.flow.census import census_border_mask, census_distance, census_transform, to_gray255
from ufsn.flow.corr import at_least_float32
from ufsn.flow.net import FlowOutput
from ufsn.flow.warp import warp

# Keeps masked means finite when a mask is all zero (tiny levels, fully occluded crops).
_EPS = 1e-6


@dataclass(frozen=True)
class LossConfig:
    """Weights and constants of the unsupervised loss."""

    w_diff: float = 1.0  # lambda_1: photometric L1 (Charbonnier with eps -> 0), intensities in [0, 1]
    w_census: float = 1.0  # lambda_2: soft census distance (UnFlow), robust-penalised
    w_smooth: float = 4.0  # lambda_3: edge-aware first-order smoothness (UFlow's weight 4)
    edge_alpha: float = 150.0  # alpha in exp(-alpha |grad I|): UFlow's edge constant for [0, 1] images
    census_patch: int = 7  # census window, 7x7 as UnFlow
    charbonnier_eps: float = 0.01  # sqrt(x^2 + eps^2): L1 with a smooth minimum, NaN-free gradient at 0
    robust_q: float = 0.4  # census penalty (d + 0.01)^q, UnFlow's robust exponent
    level_weights: tuple[float, ...] = (1.0, 0.5, 0.25, 0.0)  # full-res flow, then pyramid flows fine -> coarse
    fb_alpha1: float = 0.01  # forward-backward check: |f + b'|^2 < a1 (|f|^2 + |b'|^2) + a2 (UnFlow)
    fb_alpha2: float = 0.5


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (B, C, H, W) ``x`` over each sample's pixels where ``mask`` is 1 (division by M), then over B.

    Per sample, so a sample's weight does not depend on the rest of its batch: a batch split over DDP
    ranks (each averaging its share, DDP averaging the ranks) gives the loss of the whole batch.
    """
    mask = mask.expand_as(x)
    per_sample = (x * mask).sum(dim=(1, 2, 3)) / (mask.sum(dim=(1, 2, 3)) + _EPS)  # (B,)
    return per_sample.mean()


def photometric_diff(img1: torch.Tensor, warped2: torch.Tensor, mask: torch.Tensor, eps: float = 0.01):
    """``L_diff``: Charbonnier ``sqrt((I1 - I2_hat)^2 + eps^2)`` averaged over channels and valid pixels."""
    diff = torch.sqrt((img1 - warped2) ** 2 + eps * eps)  # (B, 3, H, W)
    return masked_mean(diff.mean(dim=1, keepdim=True), mask)


def census_loss(img1: torch.Tensor, warped2: torch.Tensor, mask: torch.Tensor, patch: int = 7, q: float = 0.4):
    """``L_census``: robust ``(d + 0.01)^q`` of the soft census distance, borders of the patch masked.

    Always float32, under autocast too: intensity differences of a few grey levels on the 0..255 scale are
    what the soft sign reads, and bf16 keeps 8 bits of mantissa."""
    with torch.autocast(img1.device.type, enabled=False):
        img1, warped2, mask = at_least_float32(img1), at_least_float32(warped2), at_least_float32(mask)
        c1 = census_transform(to_gray255(img1), patch)  # (B, P*P, H, W)
        c2 = census_transform(to_gray255(warped2), patch)  # (B, P*P, H, W)
        dist = census_distance(c1, c2)  # (B, 1, H, W)
        border = census_border_mask(*img1.shape[-2:], patch, img1.device, img1.dtype)  # (1, 1, H, W)
        return masked_mean((dist + 0.01) ** q, mask * border)


def smooth_loss(flow: torch.Tensor, img1: torch.Tensor, alpha: float = 150.0):
    """``L_smooth``: sum over d = x, y of ``|grad_d U| exp(-alpha |grad_d I1|)``, mean over pixels."""
    total = flow.new_zeros(())
    for dim in (3, 2):  # x then y: finite differences along W and H
        if flow.shape[dim] < 2:
            continue  # a 1-pixel axis has no gradient (the mean of an empty tensor would be NaN)
        du = torch.diff(flow, dim=dim).abs().mean(dim=1, keepdim=True)  # (B, 1, H', W')
        di = torch.diff(img1, dim=dim).abs().mean(dim=1, keepdim=True)  # (B, 1, H', W')
        total = total + (du * torch.exp(-alpha * di)).mean()
    return total


def fb_occlusion_mask(flow_fw: torch.Tensor, flow_bw: torch.Tensor, alpha1: float = 0.01, alpha2: float = 0.5):
    """Forward-backward consistency (UnFlow): 1 where visible in both frames, 0 where occluded.

    A pixel is occluded when the forward flow and the backward flow sampled at its target do not
    cancel: ``|f + b(x + f)|^2 >= alpha1 (|f|^2 + |b(x + f)|^2) + alpha2``. No gradient flows through.
    """
    with torch.no_grad():
        bw_at_target, _ = warp(flow_bw, flow_fw)  # (B, 2, H, W)
        mismatch = ((flow_fw + bw_at_target) ** 2).sum(dim=1, keepdim=True)  # (B, 1, H, W)
        scale = (flow_fw**2).sum(dim=1, keepdim=True) + (bw_at_target**2).sum(dim=1, keepdim=True)
        return (mismatch < alpha1 * scale + alpha2).to(flow_fw.dtype)  # (B, 1, H, W)


def resize_images(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-downsample images to a pyramid level (identity at the same size)."""
    if tuple(img.shape[-2:]) == tuple(size):
        return img
    return F.interpolate(img, size=size, mode="area")  # (B, C, h, w)


def level_terms(img1, img2, flow, cfg: LossConfig, occ: torch.Tensor | None = None):
    """The three terms at one resolution (images are resized to the flow); returns (diff, census, smooth)."""
    from torch.profiler import record_function  # labels for ``ufsn-bench perf flow --train`` (no cost otherwise)

    size = tuple(flow.shape[-2:])
    with record_function("loss.warp"):
        i1, i2 = resize_images(img1, size), resize_images(img2, size)  # (B, 3, h, w)
        warped2, valid = warp(i2, flow)  # (B, 3, h, w), (B, 1, h, w)
        if occ is not None:
            valid = valid * resize_images(occ, size)  # occlusion mask of this level
    with record_function("loss.photometric"):
        diff = photometric_diff(i1, warped2, valid, cfg.charbonnier_eps)
    with record_function("loss.census"):
        cen = census_loss(i1, warped2, valid, cfg.census_patch, cfg.robust_q)
    with record_function("loss.smoothness"):
        smooth = smooth_loss(flow, i1, cfg.edge_alpha)
    return diff, cen, smooth


def unsupervised_loss(img1, img2, out: FlowOutput, cfg: LossConfig = LossConfig(), occ: torch.Tensor | None = None):
    """Total loss over the full-resolution flow and the pyramid flows (fine to coarse) with per-level weights.

    Args:
        out: the network output; with one pyramid level only the full-resolution flow is used
            ("w/o multi-scale": loss at the finest output only).
        occ: optional (B, 1, H, W) visibility mask from :func:`fb_occlusion_mask` (1 = visible).

    Returns:
        (loss, metrics) with metrics floats ``loss, diff, census, smooth``.
    """
    with torch.autocast(img1.device.type, enabled=False):  # the loss in float32, under autocast too
        flows32 = FlowOutput([at_least_float32(f) for f in out.flows], at_least_float32(out.full))
        occ32 = None if occ is None else at_least_float32(occ)
        return _unsupervised_loss(at_least_float32(img1), at_least_float32(img2), flows32, cfg, occ32)


def _unsupervised_loss(img1, img2, out: FlowOutput, cfg: LossConfig, occ: torch.Tensor | None):
    coarser = list(reversed(out.flows[:-1]))  # finest pyramid flow is `full` before upsampling: skip it
    # strict=False below: level_weights may name more levels than a small pyramid has (extra weights unused)
    flows = [out.full, *coarser]
    loss = out.full.new_zeros(())
    sums = {"diff": 0.0, "census": 0.0, "smooth": 0.0}
    for w, flow in zip(cfg.level_weights, flows, strict=False):
        if w == 0:
            continue
        diff, cen, smooth = level_terms(img1, img2, flow, cfg, occ)
        loss = loss + w * (cfg.w_diff * diff + cfg.w_census * cen + cfg.w_smooth * smooth)
        for key, term in (("diff", diff), ("census", cen), ("smooth", smooth)):
            sums[key] += w * term.item()
    return loss, {"loss": loss.item(), **sums}


def endpoint_error(flow: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) per-pixel end-point error ``|flow - gt|_2`` in pixels."""
    return torch.linalg.vector_norm(flow - gt, dim=1, keepdim=True)


def supervised_loss(out: FlowOutput, gt: torch.Tensor, cfg: LossConfig = LossConfig()):
    """The ``oracle`` loss: per-level mean EPE against ground truth resized (area) and rescaled to each level."""
    h, w = gt.shape[-2:]
    loss = gt.new_zeros(())
    flows = [out.full, *reversed(out.flows[:-1])]
    for wt, flow in zip(cfg.level_weights, flows, strict=False):
        if wt == 0:
            continue
        hl, wl = flow.shape[-2:]
        scale = torch.tensor([wl / w, hl / h], device=gt.device, dtype=gt.dtype).view(1, 2, 1, 1)
        target = resize_images(gt, (hl, wl)) * scale  # (B, 2, hl, wl) in pixels of the level
        loss = loss + wt * endpoint_error(flow, target).mean()
    return loss, {"loss": loss.item(), "epe": endpoint_error(out.full.detach(), gt).mean().item()}
