"""The per-part profile of `ufsn-bench perf flow` and the stage-1 step profile of `perf flow --train`.

No assertion here depends on how fast anything ran: parts are checked by name and by how often they were
timed, which the network's structure and the step count fix.
"""

import torch

from bench.perf.flow_profile import profile_parts
from ufsn.flow.net import FlowNet, FlowNetConfig


def test_profile_times_decoders_and_projections_not_only_top_level_modules():
    torch.manual_seed(0)
    cfg = FlowNetConfig(
        channels=(8, 12, 16),
        output_level=1,
        feature_proj=8,
        decoder_widths=(16, 8),
        context=True,
        context_widths=(8, 8),
    )
    net = FlowNet(cfg).eval()
    img = torch.rand(1, 3, 32, 32)  # (B, 3, H, W)
    repeats, levels = 2, len(cfg.decode_levels)  # levels 3, 2, 1
    parts = {p.part: p for p in profile_parts(net, img, img.flip(-1), repeats=repeats)}
    # The decoders live in a ModuleList and the projections in a ModuleDict: containers are never called,
    # so without timing their members the decoders' convolutions would land in "rest".
    calls = {name: parts[name].calls for name in ("encoder", "proj", "decoders", "corr", "warp", "context")}
    assert calls == {
        "encoder": repeats,  # once per forward pass
        "proj": levels * repeats,  # one projection per decoded level
        "decoders": levels * repeats,  # the shared decoder, once per level
        "corr": levels * repeats,
        "warp": (levels - 1) * repeats,  # every level but the coarsest starts from a warp
        "context": repeats,
    }
    assert list(parts)[-1] == "rest (upsampling, cat, mean removal)" and parts[list(parts)[-1]].calls == repeats


def _training_data(root, dataset: str, config: str):
    from bench.stage1 import load_flow_config
    from ufsn.flow.data import DatasetPaths
    from ufsn.flow.pairs import pair_dataset
    from ufsn.flow.train import training_videos

    cfg = load_flow_config(config, root=str(root), dataset=dataset)
    videos = training_videos(cfg, DatasetPaths(root, dataset))
    return cfg, pair_dataset(root, dataset, videos, augment=cfg.pair_augment(),
                             seed=cfg.seed)  # fmt: skip


def test_train_profile_times_every_phase_once_per_step(tiny_prepared):
    from bench.perf.flow_train_profile import profile_train_step

    cfg, data = _training_data(tiny_prepared, "synthetic", "flow_tiny.toml")
    steps = 2
    *rows, convs = profile_train_step(cfg, data, torch.device("cpu"), steps=steps, warmup=3)
    calls = {p.part.strip(): p.calls for p in rows}
    phases = ("data and augmentation", "forward: network", "backward", "clip + optimiser step", "whole step")
    assert [p.part for p in rows if not p.part.startswith(" ")] == [*phases[:2], "forward: loss terms", *phases[2:]]
    assert {p: calls[p] for p in phases} == dict.fromkeys(phases, steps)
    # Every profiled step (from step 5, past flow_tiny's occlusion warm-up) runs the same loss terms.
    terms = {k: v for k, v in calls.items() if k.startswith("loss.")}
    assert set(terms) == {f"loss.{t} (forward)" for t in ("warp", "photometric", "census", "smoothness", "occlusion")}
    assert all(n > 0 and n % steps == 0 for n in terms.values()), terms
    assert calls["forward: loss terms"] == sum(terms.values())
    assert terms["loss.occlusion (forward)"] == steps  # once per bidirectional step
    assert terms["loss.census (forward)"] == terms["loss.photometric (forward)"] == terms["loss.smoothness (forward)"]
    assert convs.part == "convolutions, forward + backward" and convs.calls > 0 and convs.calls % steps == 0


def test_perf_flow_train_prints_the_step_by_part(tiny_prepared):
    from click.testing import CliRunner

    from bench.cli import main

    args = ["perf", "flow", "--train", "--root", str(tiny_prepared), "--dataset", "synthetic", "--config",
            "flow_tiny.toml", "--steps", "2"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = [line.split("|")[1:4] for line in result.output.splitlines()
            if line.startswith("| ") and not line.startswith("| part")]  # fmt: skip
    parts = [part.strip() for part, _, _ in rows]
    assert parts[:3] == ["data and augmentation", "forward: network", "forward: loss terms"]
    assert parts[-3:] == ["backward", "clip + optimiser step", "whole step"]
    assert sorted(parts[3:-3]) == [f"loss.{t} (forward)" for t in ("census", "occlusion", "photometric", "smoothness",
                                                                     "warp")]  # fmt: skip
    for _, ms, share in rows:
        float(ms), float(share.strip().removesuffix("%"))  # numbers (how large depends on the machine: not asserted)
    lines = result.output.splitlines()
    assert any(line.startswith("convolutions, forward + backward: ") and "x faster" in line for line in lines)
    assert any(line.startswith("whole step, measured alternately in this run: cost volume as the 81-shift reference")
               for line in lines)  # fmt: skip
