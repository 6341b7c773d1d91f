"""Self-supervision in stage 1: the network's flow on a pair teaches its flow on a cropped-and-resized copy.

This is UFlow's form (Jonschkowski et al., ECCV 2020, "What matters in unsupervised optical flow"), chosen
over ARFlow's transform set because it needs one extra crop and resize and no new augmentation code, and
because UFlow measured it as the largest late gain of their study, switched on halfway through training.
The teacher is the same network in the same step with the gradient stopped, so no second model is kept.
The student sees the pair with a border cut from every side and resized back to the full size: near the
new borders its motion leaves the frame, where the photometric loss has no signal and the teacher, which
sees the surrounding context, does. The loss is a Charbonnier distance between the student's flow and the
teacher's flow on the same region (resized and rescaled to the student's pixels), averaged over pixels
the teacher's forward-backward check calls visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ufsn.errors import ConfigError
from ufsn.flow.losses import masked_mean
from ufsn.flow.variants import VARIANTS


@dataclass(frozen=True)
class SelfSupConfig:
    """Teacher-student self-supervision; weight 0 leaves stage 1 as the seed describes it."""

    weight: float = 0.0  # weight of the self-supervised term in the stage-1 loss (0 = off)
    start: float = 0.5  # fraction of the steps after which it is on (UFlow: halfway)
    border: float = 0.125  # fraction of the height and width cut from each side of the student's pair
    variants: tuple[str, ...] = ("full",)  # stage-1 variants it applies to (the seed's ablations stay without)
    charbonnier_eps: float = 0.01  # sqrt(d^2 + eps^2) of the end-point distance to the teacher

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ConfigError(f"self_sup.weight must be >= 0, got {self.weight}")
        if not 0.0 <= self.start <= 1.0:
            raise ConfigError(f"self_sup.start is a fraction of the steps in [0, 1], got {self.start}")
        if not 0.0 < self.border < 0.5:
            raise ConfigError(f"self_sup.border must be in (0, 0.5), got {self.border}")
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown:
            raise ConfigError(f"self_sup.variants: unknown {unknown[0]!r}; valid values: {', '.join(VARIANTS)}")

    def active(self, variant: str, step: int, steps: int) -> bool:
        """Whether ``step`` of a ``steps``-step run of ``variant`` adds the term (steps only, no wall clock)."""
        return self.weight > 0 and variant in self.variants and step >= self.start * steps


class CropBox(NamedTuple):
    top: int
    left: int
    height: int
    width: int


def crop_box(height: int, width: int, border: float) -> CropBox:
    """The central region left after cutting ``border`` of each side (at least 1 px kept, at least 1 cut)."""
    top = min(max(1, round(border * height)), (height - 1) // 2)
    left = min(max(1, round(border * width)), (width - 1) // 2)
    return CropBox(top, left, height - 2 * top, width - 2 * left)


def crop_resize(x: torch.Tensor, box: CropBox, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """(B, C, H, W) -> the box's region resized to ``size``; ``nearest`` for masks."""
    region = x[..., box.top : box.top + box.height, box.left : box.left + box.width]  # (B, C, h, w)
    if mode == "nearest":
        return F.interpolate(region, size=size, mode="nearest")
    return F.interpolate(region, size=size, mode=mode, align_corners=False)


def teacher_target(flow: torch.Tensor, box: CropBox, size: tuple[int, int]) -> torch.Tensor:
    """The teacher's (B, 2, H, W) flow on the box, resized to ``size`` and rescaled to the student's pixels."""
    target = crop_resize(flow, box, size)  # (B, 2, H', W') in the teacher's pixels
    scale = torch.tensor([size[1] / box.width, size[0] / box.height], dtype=flow.dtype, device=flow.device)
    return target * scale.view(1, 2, 1, 1)


def self_supervised_loss(student: torch.Tensor, teacher: torch.Tensor, visible: torch.Tensor, box: CropBox,
                         eps: float = 0.01) -> torch.Tensor:  # fmt: skip
    """Charbonnier distance between the student's flow (B, 2, H, W) and the teacher's on the same region.

    Args:
        student: flow on the cropped-and-resized pair, in its pixels.
        teacher: flow on the full pair (the gradient is stopped here).
        visible: (B, 1, H, W) teacher's forward-backward visibility (1 = visible), cropped like the flow.
        box: the student's region in the full pair.
    """
    size = tuple(student.shape[-2:])
    with torch.no_grad():
        target = teacher_target(teacher.detach().float(), box, size)  # (B, 2, H, W)
        mask = crop_resize(visible.detach().float(), box, size, mode="nearest")  # (B, 1, H, W)
    distance = torch.sqrt(((student.float() - target) ** 2).sum(dim=1, keepdim=True) + eps * eps)  # (B, 1, H, W)
    return masked_mean(distance, mask)
