"""The seed's ablations as switches of one flow network (no torch import: the CLIs read the names)."""

from __future__ import annotations

from typing import Literal, NamedTuple

Variant = Literal["full", "nms", "nocv-nms", "oracle"]


class VariantSpec(NamedTuple):
    net: dict  # FlowNetConfig switches applied on top of the config's [net] table
    supervised: bool = False  # trained on ground-truth flow (synthetic only) instead of the unsupervised loss


VARIANTS: dict[str, VariantSpec] = {
    "full": VariantSpec({}),
    "nms": VariantSpec({"multi_scale": False}),  # w/o multi-scale: one level, no coarse-to-fine
    "nocv-nms": VariantSpec({"cost_volume": False, "multi_scale": False}),  # w/o cost volume & multi-scale
    "oracle": VariantSpec({}, supervised=True),  # the full network trained on ground truth (synthetic only)
}
