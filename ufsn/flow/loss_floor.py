"""The unsupervised loss's own optimum on pairs with ground truth: a free flow field, no network.

A stage-1 network trained on a loss is pulled towards the flow that minimises it. Fitting a free field (one
2-vector per output pixel, at the network's output stride and upsampled the same way) to each pair
with Adam shows what the loss asks for, separately from how much a network learns in a budget.
Started at the ground truth, the fit drifts to the loss's nearest minimum: the drift is the loss's
bias. Started at zero, it shows what the loss finds without coarse-to-fine matching.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ufsn.choices import check_choices
from ufsn.flow.evaluate import pixel_groups
from ufsn.flow.losses import LossConfig, endpoint_error, resize_images, unsupervised_loss
from ufsn.flow.net import FlowOutput
from ufsn.flow.warp import upsample_flow


@dataclass(frozen=True)
class LossFloorConfig:
    """How the free field is fitted."""

    steps: int = 300  # Adam steps per loss
    lr: float = 0.05  # px per step at the field's resolution (Adam moves each value by about lr)
    lr_decay_at: float = 2 / 3  # fraction of steps after which the lr is multiplied by lr_decay
    lr_decay: float = 0.2
    stride: int = 2  # field resolution 1/stride of the frames (the synthetic configs' output_level 1)
    init: Literal["gt", "zero"] = "gt"  # gt (the drift shows the loss's bias) | zero

    def __post_init__(self):
        check_choices(self)


def initial_field(gt: torch.Tensor, stride: int, init: str) -> torch.Tensor:
    """(B, 2, H/stride, W/stride) starting field: the area-averaged ground truth in field pixels, or zeros."""
    h, w = gt.shape[-2:]
    size = (h // stride, w // stride)
    if init == "zero":
        return gt.new_zeros(gt.shape[0], 2, *size)
    scale = torch.tensor([size[1] / w, size[0] / h], dtype=gt.dtype).view(1, 2, 1, 1)
    return resize_images(gt, size) * scale  # (B, 2, h', w')


def fit_free_flow(img1: torch.Tensor, img2: torch.Tensor, gt: torch.Tensor, loss: LossConfig,
                  cfg: LossFloorConfig = LossFloorConfig()) -> torch.Tensor:  # fmt: skip
    """The full-resolution flow (B, 2, H, W) of a free field fitted to ``loss`` (its full-resolution term).

    ``gt`` only sets the starting point (``cfg.init``); the fit itself never sees it.
    """
    field = initial_field(gt, cfg.stride, cfg.init).requires_grad_(True)  # (B, 2, h', w')
    opt = torch.optim.Adam([field], lr=cfg.lr)
    size = tuple(img1.shape[-2:])
    for step in range(cfg.steps):
        if step == int(cfg.lr_decay_at * cfg.steps):
            for group in opt.param_groups:
                group["lr"] = cfg.lr * cfg.lr_decay
        full = upsample_flow(field, size)  # (B, 2, H, W)
        value, _ = unsupervised_loss(img1, img2, FlowOutput([field], full), loss)  # one level: full only
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
    with torch.no_grad():
        return upsample_flow(field, size)


def group_errors(flow: torch.Tensor, gt: torch.Tensor) -> dict[str, float]:
    """EPE over all pixels, and per pixel group its mean EPE (``<group>``) and its share of the total EPE
    (``<group>_part``: the group's error summed, divided by all pixels; the parts add up to ``epe``)."""
    err = endpoint_error(flow, gt)  # (B, 1, H, W)
    out = {"epe": err.mean().item()}
    for name, mask in pixel_groups(gt).items():
        picked = err[mask]
        out[name] = picked.mean().item() if picked.numel() else float("nan")
        out[f"{name}_part"] = picked.sum().item() / err.numel()
    return out
