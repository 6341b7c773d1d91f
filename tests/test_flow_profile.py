"""The per-part profile of `ufsn-bench perf flow`: every part the net calls is timed under its own name."""

import torch

from bench.flow_profile import profile_parts
from ufsn.flownet import FlowNet, FlowNetConfig


def test_profile_times_decoders_and_projections_not_only_top_level_modules():
    torch.manual_seed(0)
    net = FlowNet(
        FlowNetConfig(
            channels=(8, 12, 16),
            output_level=1,
            feature_proj=8,
            decoder_widths=(16, 8),
            context=True,
            context_widths=(8, 8),
        )
    ).eval()
    img = torch.rand(1, 3, 32, 32)  # (B, 3, H, W)
    parts = {p.part: p for p in profile_parts(net, img, img.flip(-1), repeats=2)}
    # The decoders live in a ModuleList and the projections in a ModuleDict: containers are never called,
    # so without timing their members the decoders' convolutions would land in "rest".
    assert {"encoder", "decoders", "proj", "corr", "warp", "context"} <= set(parts)
    assert all(p.ms > 0 for name, p in parts.items() if not name.startswith("rest"))
    # Shares are fractions of the whole forward pass: together with the rest they add up to one.
    assert abs(sum(p.share for p in parts.values()) - 1.0) < 1e-9
