"""The loss's own optimum (free flow field): start field, pixel groups, recovery of a known shift, the CLI."""

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ufsn.flow.evaluate import pixel_groups
from ufsn.flow.loss_floor import LossFloorConfig, fit_free_flow, group_errors, initial_field
from ufsn.flow.losses import LossConfig


def shifted_pair(dx: float, dy: float, size: int = 40):
    """A smooth two-sinusoid texture and the same texture moved by (dx, dy): the flow is (dx, dy) everywhere."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)

    def texture(x, y):
        return 0.5 + 0.2 * np.sin(2 * math.pi * x / 17.0 + 0.3) + 0.2 * np.cos(2 * math.pi * (0.6 * x + y) / 13.0)

    img1 = texture(xs, ys)
    img2 = texture(xs - dx, ys - dy)  # the point at x in frame 1 is at x + d in frame 2
    to_t = lambda a: torch.from_numpy(np.repeat(a[None, None], 3, axis=1)).float()  # noqa: E731  (1, 3, H, W)
    gt = torch.tensor([dx, dy]).view(1, 2, 1, 1).expand(1, 2, size, size).float()
    return to_t(img1), to_t(img2), gt


def test_initial_field_is_the_ground_truth_in_field_pixels():
    gt = torch.tensor([1.5, -0.5]).view(1, 2, 1, 1).expand(2, 2, 8, 12).clone()
    field = initial_field(gt, 2, "gt")
    assert field.shape == (2, 2, 4, 6) and torch.allclose(field[:, 0], torch.tensor(0.75))
    assert torch.allclose(field[:, 1], torch.tensor(-0.25))
    assert torch.equal(initial_field(gt, 4, "zero"), torch.zeros(2, 2, 2, 3))
    with pytest.raises(ValueError, match="init = 'random'; valid values: 'gt', 'zero'"):
        LossFloorConfig(init="random")


def test_pixel_groups_and_error_parts_by_hand():
    gt = torch.zeros(1, 2, 10, 10)
    gt[:, 0, 4:6, 4:6] = 2.0  # a 2x2 actor moving 2 px right
    groups = pixel_groups(gt)
    assert groups["moving"].sum() == 4
    assert groups["boundary"].sum() == 8 * 8 - 4  # 3 px around the block: rows/cols 1..8
    assert groups["background"].sum() == 100 - 64
    e = group_errors(torch.zeros_like(gt), gt)  # zero flow: error 2 on the actor, 0 elsewhere
    assert e["epe"] == pytest.approx(8 / 100) and e["moving"] == pytest.approx(2.0)
    assert e["boundary"] == 0 and e["background"] == 0
    assert e["moving_part"] + e["boundary_part"] + e["background_part"] == pytest.approx(e["epe"])


def test_fit_noise_is_far_below_the_drifts_it_measures():
    from pipeline.synth.dataset import class_table, preset, render_clip

    cfg = preset("tiny", frames=2)
    for cls in class_table(cfg.families, cfg.motions):  # each class's first frame against itself
        img = torch.from_numpy(render_clip(cfg, cls, 1, 1).frames[0]).permute(2, 0, 1)[None].float() / 255
        zero = torch.zeros(1, 2, *img.shape[-2:])
        flow = fit_free_flow(img, img, zero, LossConfig(robust_q=1.0), LossFloorConfig(init="zero"))  # census on
        # zero flow is the exact minimum; the biases the floor reports on the demo are 0.25-0.9 px
        assert flow.norm(dim=1).mean() < 0.03, cls.name


def test_photometric_fit_finds_a_subpixel_shift_from_zero_and_keeps_it_from_the_truth():
    img1, img2, gt = shifted_pair(0.4, -0.25)
    loss = LossConfig(w_census=0.0, level_weights=(1.0,))  # Charbonnier + smoothness
    for init in ("zero", "gt"):
        flow = fit_free_flow(img1, img2, gt, loss, LossFloorConfig(steps=150, init=init))
        inner = flow[..., 4:-4, 4:-4]  # away from the border, where warping leaves the image
        assert (inner - gt[..., 4:-4, 4:-4]).norm(dim=1).mean() < 0.05, init
    zero_epe = group_errors(torch.zeros_like(gt), gt)["epe"]
    assert zero_epe == pytest.approx(math.hypot(0.4, 0.25), rel=1e-5)


def test_cli_prints_zero_and_each_loss_and_rejects_unknown_fields(tiny_root):
    from bench.cli import main

    base = ["flow-loss-floor", "--root", str(tiny_root), "--dataset", "synthetic", "--config", "flow_tiny.toml",
            "--pairs", "2", "--steps", "2", "--threads", "1"]  # fmt: skip
    result = CliRunner().invoke(main, [*base, "--vary", "w_census=0,w_smooth=16", "--vary", "census_patch=5"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in lines[1:]] == [
        "| zero flow",
        "| loss",
        "| loss + w_census=0,w_smooth=16",
        "| loss + census_patch=5",
    ]  # an integer field stays an integer (a float patch size reached F.unfold and crashed)
    assert lines[1].split(" | ")[2] == "1.00"  # zero flow against itself
    bad = CliRunner().invoke(main, [*base, "--vary", "w_cencus=0"])
    assert bad.exit_code != 0 and "w_cencus=0" in bad.output and "w_census" in bad.output
    missing = CliRunner().invoke(main, ["flow-loss-floor", "--root", "/nonexistent-root", "--dataset", "synthetic"])
    assert missing.exit_code == 1 and "classes.csv" in missing.output and "Traceback" not in missing.output
