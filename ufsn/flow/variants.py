"""The seed's ablations as switches of one flow network (no torch import: the CLIs read the names)."""

from __future__ import annotations

# Stage-1 variant -> FlowNetConfig switches applied on top of the config's [net] table.
VARIANTS = {
    "full": {},
    "nms": {"multi_scale": False},  # w/o multi-scale: one level, no coarse-to-fine
    "nocv-nms": {"cost_volume": False, "multi_scale": False},  # w/o cost volume & multi-scale
    "oracle": {},  # the full network trained on ground truth (synthetic only)
}
