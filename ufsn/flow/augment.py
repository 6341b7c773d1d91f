"""Augmentation of frame pairs for stage 1; geometric changes transform the flow so its signs stay right."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def mean_abs_difference(first: np.ndarray, second: np.ndarray) -> float:
    """Mean absolute difference of two (H, W, 3) uint8 frames on the 0..255 scale (0 for a repeated frame)."""
    return float(np.abs(first.astype(np.int16) - second.astype(np.int16)).mean())


def photometric(img1: torch.Tensor, img2: torch.Tensor, gen: torch.Generator, strength: float = 0.2):
    """The same random brightness, contrast, per-channel gain and gamma for both frames of each pair.

    Identical changes keep the pair's correspondence (brightness constancy), only the appearance moves.
    """
    b = img1.shape[0]

    def draw(*shape):
        return 1.0 + strength * (2.0 * torch.rand(*shape, generator=gen) - 1.0)  # uniform in 1 +- strength

    gain = draw(b, 1, 1, 1) * draw(b, 3, 1, 1)  # (B, 3, 1, 1) brightness x colour
    contrast = draw(b, 1, 1, 1)  # (B, 1, 1, 1)
    gamma = draw(b, 1, 1, 1)  # (B, 1, 1, 1)
    out = []
    for img in (img1, img2):
        mean = img.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        x = ((img - mean) * contrast.to(img) + mean) * gain.to(img)
        out.append(x.clamp(0, 1) ** gamma.to(img))
    return out[0], out[1]


def crop_scores(img1: torch.Tensor, img2: torch.Tensor, crop: tuple[int, int]) -> torch.Tensor:
    """Mean absolute frame difference inside every crop window: (B, H - ch + 1, W - cw + 1).

    Uses the images only (no ground truth), so it is allowed in unsupervised training. Window sums come
    from a summed-area table (float64), so the cost is O(H W) whatever the crop's size.
    """
    ch, cw = crop
    diff = (img1 - img2).abs().mean(dim=1).double()  # (B, H, W)
    table = F.pad(diff.cumsum(1).cumsum(2), (1, 0, 1, 0))  # (B, H+1, W+1): sums of diff[:y, :x]
    sums = table[:, ch:, cw:] - table[:, :-ch, cw:] - table[:, ch:, :-cw] + table[:, :-ch, :-cw]  # (B, H-ch+1, W-cw+1)
    return (sums / (ch * cw)).to(img1.dtype)


def motion_crop_corners(img1, img2, crop: tuple[int, int], gen: torch.Generator, uniform: float = 0.25):
    """Per-sample top-left corners drawn with probability proportional to the window's frame
    difference (plus ``uniform`` of the mean, so static windows still occur). (B, 2) as (y0, x0).

    Where most pixels are static (the synthetic set: actors cover a small part of the frame),
    uniform crops give the loss few moving pixels; these crops put the actors in most batches.
    """
    scores = crop_scores(img1, img2, crop)  # (B, h', w')
    b, hh, ww = scores.shape
    flat = scores.reshape(b, -1)  # (B, h' * w')
    weights = flat + uniform * flat.mean(dim=1, keepdim=True) + 1e-8  # (B, h' * w')
    pick = torch.multinomial(weights, 1, generator=gen).squeeze(1)  # (B,)
    return torch.stack([pick // ww, pick % ww], dim=1)  # (B, 2)


def geometric(img1, img2, flow, noc, gen: torch.Generator, crop: tuple[int, int] | None, motion_crops: bool = False):
    """Random crop (one window per batch, or per sample at moving windows with ``motion_crops``),
    then per-sample horizontal / vertical flips.

    A horizontal flip mirrors x, so the flow's x component changes sign (and is mirrored with the
    image); a vertical flip negates y. A crop translates both frames equally: flow unchanged.
    """
    if crop is not None:
        h, w = img1.shape[-2:]
        ch, cw = min(crop[0], h), min(crop[1], w)
        if motion_crops:
            corners = motion_crop_corners(img1, img2, (ch, cw), gen).tolist()  # B x [y0, x0]
            img1, img2, flow, noc = (
                torch.stack([t[i, :, y0 : y0 + ch, x0 : x0 + cw] for i, (y0, x0) in enumerate(corners)])
                for t in (img1, img2, flow, noc)
            )  # (B, C, ch, cw) each
        else:
            y0 = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
            x0 = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
            window = (..., slice(y0, y0 + ch), slice(x0, x0 + cw))
            img1, img2, flow, noc = (t[window] for t in (img1, img2, flow, noc))  # (B, C, ch, cw) each
    b = img1.shape[0]
    hflip = torch.rand(b, generator=gen) < 0.5  # (B,)
    vflip = torch.rand(b, generator=gen) < 0.5  # (B,)
    sign = torch.ones(b, 2, 1, 1)  # (B, 2, 1, 1)
    sign[hflip, 0] = -1.0
    sign[vflip, 1] = -1.0
    img1, img2, flow, noc = (_flip(t, hflip, vflip) for t in (img1, img2, flow, noc))
    return img1, img2, flow * sign.to(flow), noc


def _flip(t: torch.Tensor, hflip: torch.Tensor, vflip: torch.Tensor) -> torch.Tensor:
    hm = hflip.view(-1, 1, 1, 1).to(t.device)  # (B, 1, 1, 1)
    vm = vflip.view(-1, 1, 1, 1).to(t.device)  # (B, 1, 1, 1)
    t = torch.where(hm, t.flip(-1), t)
    return torch.where(vm, t.flip(-2), t)
