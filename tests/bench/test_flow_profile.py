"""The per-part profile of `ufsn-bench perf flow`: every part the net calls is timed under its own name.

No assertion here depends on how fast anything ran: parts are checked by name and by how they add up.
"""

import pytest
import torch

from bench.flow_profile import profile_parts
from ufsn.flow.net import FlowNet, FlowNetConfig


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
    # Shares are fractions of the whole forward pass: together with the rest they add up to one.
    assert abs(sum(p.share for p in parts.values()) - 1.0) < 1e-9


def test_perf_flow_train_profiles_the_step_by_part(tiny_prepared):
    from click.testing import CliRunner

    from bench.cli import main

    args = ["perf", "flow", "--train", "--root", str(tiny_prepared), "--dataset", "synthetic", "--config",
            "flow_tiny.toml", "--steps", "2"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in result.output.splitlines()
            if line.startswith("| ") and not line.startswith("| part")}  # fmt: skip
    for part in ("data and augmentation", "forward: network", "forward: loss terms", "loss.census (forward)",
                 "loss.smoothness (forward)", "backward", "clip + optimiser step", "whole step"):  # fmt: skip
        assert part in rows, (part, result.output)
        assert float(rows[part][0]) >= 0
    phases = ("data and augmentation", "forward: network", "forward: loss terms", "backward", "clip + optimiser step")
    whole = float(rows["whole step"][0])
    assert sum(float(rows[p][0]) for p in phases) == pytest.approx(whole, rel=0.02, abs=0.2)  # phases add up
    terms = sum(float(v[0]) for k, v in rows.items() if k.startswith("loss."))
    assert terms == pytest.approx(float(rows["forward: loss terms"][0]), rel=0.02, abs=0.2)
    convs = next(line for line in result.output.splitlines() if line.startswith("convolutions, forward + backward"))
    assert "ms/step" in convs and "x faster" in convs  # measured shares vary with the machine's load: not asserted
