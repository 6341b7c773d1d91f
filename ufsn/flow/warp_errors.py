"""How well a flow explains a real frame pair without ground truth: the errors left after warping.

For a pair (I1, I2) and a flow f from I1 to I2, I2 warped back by f should reproduce I1 where the
motion is visible in both frames. Two residuals are measured over the pixels whose sample lies inside
I2 (for census, whose whole 7x7 patch does, inside the frame):

- photometric: the mean absolute difference |I1 - I2(x + f)| on the 0..255 scale, over channels;
- census: the soft census (Hamming) distance of UnFlow, which ignores brightness changes.

Both also count pixels occluded in one frame, which no flow can explain, so they rank flows on the same
pairs rather than give an error of the flow itself. The census distance is a term of the stage-1 loss:
an estimator trained on it is judged partly on its own objective; the photometric error much less so
(the loss uses a Charbonnier of it, one term of three).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from ufsn.flow.census import census_border_mask, census_distance, census_transform, to_gray255
from ufsn.flow.warp import warp


class WarpErrorSums(NamedTuple):
    """One pair's summed residuals and the pixels they are summed over."""

    photometric: float  # sum over valid pixels of mean |I1 - warped I2| over channels, 0..255 scale
    photometric_pixels: float
    census: float  # sum over valid pixels of the soft census distance
    census_pixels: float


@torch.no_grad()
def warp_error_sums(img1: torch.Tensor, img2: torch.Tensor, flow: torch.Tensor, patch: int = 7) -> WarpErrorSums:
    """Residuals of one pair: ``img1``, ``img2`` (1, 3, H, W) RGB in [0, 1], ``flow`` (1, 2, H, W) px, img1 -> img2."""
    img1, img2, flow = img1.float(), img2.float(), flow.float()
    warped, valid = warp(img2, flow)  # (1, 3, H, W), (1, 1, H, W)
    photo = (img1 - warped).abs().mean(dim=1, keepdim=True) * 255.0  # (1, 1, H, W)
    dist = census_distance(census_transform(to_gray255(img1), patch), census_transform(to_gray255(warped), patch))
    # Census compares whole patches: a pixel counts when its patch has only valid samples and lies in the frame.
    whole = -F.max_pool2d(-valid, patch, stride=1, padding=patch // 2)  # (1, 1, H, W): valid eroded by the patch
    inner = whole * census_border_mask(*img1.shape[-2:], patch, img1.device, img1.dtype)  # (1, 1, H, W)
    return WarpErrorSums(float((photo * valid).sum()), float(valid.sum()), float((dist * inner).sum()),
                         float(inner.sum()))  # fmt: skip
