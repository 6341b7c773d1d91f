"""Stage 1: pair data, augmentation signs, determinism, resume, non-finite stop, oracle, the CLI and run store."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pipeline.storage.paths import DatasetPaths
from ufsn.errors import ConfigError, NonFiniteLoss
from ufsn.flow.augment import geometric
from ufsn.flow.data import load_bank, split_videos
from ufsn.flow.losses import LossConfig
from ufsn.flow.net import FlowNet, FlowNetConfig
from ufsn.flow.train import FlowTrainConfig, load_estimator, train_flow
from ufsn.flow.warp import warp

TINY_NET = FlowNetConfig(channels=(8, 12, 16), output_level=2, feature_proj=8, decoder_widths=(16, 8),
                         context_widths=(8,))  # fmt: skip


def tiny_cfg(root, **kw):
    base = dict(root=str(root), max_videos=6, steps=3, batch_size=2, crop=(48, 48), net=TINY_NET, checkpoint_every=2,
                log_every=1, val_pairs=4, occlusion_warmup=1, loss=LossConfig(level_weights=(1.0, 0.5)))  # fmt: skip
    base.update(kw)
    return FlowTrainConfig(**base)


def test_group_rule_and_split_csv(tiny_root, tmp_path):
    paths = DatasetPaths(tiny_root, "synthetic")

    def groups(split, subset):
        return {int(v.split("_g")[1][:2]) for v in split_videos(paths, split, (subset,))}

    assert groups(1, "test") == set(range(1, 8)) and groups(1, "val") == {24, 25}
    assert groups(3, "test") == set(range(15, 22)) and groups(3, "val") == {24, 25} and 23 in groups(3, "train")
    test_ids = split_videos(paths, 1, ("test",))
    root = tmp_path / "r"
    shutil.copytree(tiny_root, root)
    csv_path = DatasetPaths(root, "synthetic").split_csv(1)
    csv_path.parent.mkdir(parents=True)
    csv_path.write_text(f"video_id,label,class,subset\n{test_ids[0]},0,X,train\n")
    assert split_videos(DatasetPaths(root, "synthetic"), 1, ("train",)) == [test_ids[0]]


def _moving(bank, n):
    """Indices of the n pairs with the most motion (static pairs would make the checks vacuous)."""
    return bank.flow.float().abs().mean(dim=(2, 3, 4)).flatten().argsort(descending=True)[:n]


def test_bank_matches_ground_truth(tiny_root):
    paths = DatasetPaths(tiny_root, "synthetic")
    bank = load_bank(paths, split_videos(paths, 1, ("test",))[:4])
    img1, img2, flow, noc = bank.batch(_moving(bank, 3))
    assert img1.shape == (3, 3, 64, 64) and flow.shape == (3, 2, 64, 64) and noc.shape == (3, 1, 64, 64)
    warped, valid = warp(img2, flow)
    mask = valid * noc
    err_gt = ((warped - img1).abs() * mask).sum() / mask.sum()
    err_zero = ((img2 - img1).abs() * mask).sum() / mask.sum()
    swapped, _ = warp(img2, flow.flip(1))
    err_swapped = ((swapped - img1).abs() * mask).sum() / mask.sum()
    # the npz flow maps frame t to t+1 in our (x, y) convention (JPEG noise bounds the gain)
    assert err_gt < 0.7 * err_zero and err_gt < 0.7 * err_swapped


def test_stage1_pairs_from_mp4_videos(tiny_root, tmp_path):
    # An .mp4 dataset must give stage 1 the same pairs as the .avi one (not only ``*/*.avi``).
    import cv2
    import numpy as np

    shutil.copytree(tiny_root / "synthetic", tmp_path / "synthetic")
    paths = DatasetPaths(tmp_path, "synthetic")
    vid = split_videos(paths, 1, ("test",))[0]
    avi = next(paths.videos.glob(f"*/{vid}.avi"))
    frames = load_bank(paths, [vid]).frames[0].permute(0, 2, 3, 1).numpy()  # (T, H, W, 3) RGB
    writer = cv2.VideoWriter(str(avi.with_suffix(".mp4")), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, frames.shape[2:0:-1])
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    avi.unlink()
    assert vid in split_videos(paths, 1, ("test",))
    bank = load_bank(paths, [vid])
    assert bank.frames.shape == (1, *frames.shape[:1], 3, *frames.shape[1:3]) and bank.pairs == len(frames) - 1
    assert (bank.frames[0].permute(0, 2, 3, 1).float() - torch.from_numpy(frames).float()).abs().mean() < 12


def test_geometric_augmentation_keeps_flow_signs(tiny_root):
    paths = DatasetPaths(tiny_root, "synthetic")
    bank = load_bank(paths, split_videos(paths, 1, ("test",))[:4])
    img1, img2, flow, noc = bank.batch(_moving(bank, 8))
    g = torch.Generator().manual_seed(0)
    a1, a2, af, an = geometric(img1, img2, flow, noc, g, crop=(48, 40))
    assert a1.shape == (8, 3, 48, 40) and af.shape == (8, 2, 48, 40)
    warped, valid = warp(a2, af)
    mask = valid * an
    err = ((warped - a1).abs() * mask).sum() / mask.sum()
    wrong, _ = warp(a2, -af)  # a sign error would do no better than this
    assert err < 0.6 * ((wrong - a1).abs() * mask).sum() / mask.sum()


def test_deterministic_resume_and_checkpoint(tiny_root, tmp_path):
    r1 = train_flow(tiny_cfg(tiny_root), tmp_path / "a", progress=False)
    train_flow(tiny_cfg(tiny_root), tmp_path / "b", progress=False)
    sa = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    sb = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert r1.steps == 3 and sa["step"] == 3 and sa["config"]["variant"] == "full"
    assert all(torch.equal(sa["model"][k], sb["model"][k]) for k in sa["model"])
    train_flow(tiny_cfg(tiny_root, steps=2), tmp_path / "c", progress=False)
    train_flow(tiny_cfg(tiny_root), tmp_path / "c", resume=True, progress=False)
    sc = torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=True)
    assert all(torch.allclose(sa["model"][k], sc["model"][k], atol=1e-6) for k in sa["model"])
    log = (tmp_path / "c" / "train_log.csv").read_text().splitlines()
    assert log[0].startswith("step,loss,diff,census,smooth") and [r.split(",")[0] for r in log[1:]] == ["1", "2", "3"]
    net = load_estimator(tmp_path / "a" / "checkpoint.pt")
    assert net(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)).full.shape == (1, 2, 32, 32)


def test_log_epe_only_against_ground_truth(tiny_root, tmp_path):
    import csv

    # Without ground truth the training-batch EPE is unknown: the column stays empty (not the flow's magnitude).
    root = tmp_path / "r"
    shutil.copytree(tiny_root / "synthetic", root / "synthetic", ignore=shutil.ignore_patterns("flow_gt"))
    train_flow(tiny_cfg(root, steps=2), tmp_path / "nogt", progress=False)
    rows = list(csv.DictReader((tmp_path / "nogt" / "train_log.csv").open()))
    assert [r["epe"] for r in rows] == ["", ""] and [r["val_epe"] for r in rows] == ["", ""]
    assert all(float(r["loss"]) > 0 for r in rows)
    # With ground truth every variant logs it, one-directional training too (not a 0.0 placeholder).
    train_flow(tiny_cfg(tiny_root, steps=2, bidirectional=False), tmp_path / "gt", progress=False)
    rows = list(csv.DictReader((tmp_path / "gt" / "train_log.csv").open()))
    assert len(rows) == 2 and all(float(r["epe"]) > 0.1 for r in rows)  # the synthetic actors move >= 1 px


def test_oracle_and_ablation_variants_train_what_they_say(tiny_root, tmp_path):
    import csv

    for variant in ("oracle", "nocv-nms"):
        cfg = tiny_cfg(tiny_root, variant=variant, steps=2)
        result = train_flow(cfg, tmp_path / variant, progress=False)
        assert result.steps == 2 and result.val_epe is not None
        torch.manual_seed(cfg.seed)  # the trainer's seeded init, rebuilt
        init = FlowNet(cfg.resolved_net()).state_dict()
        state = torch.load(tmp_path / variant / "checkpoint.pt", weights_only=True)
        assert state["model"].keys() == init.keys()  # the variant's own network (no cost-volume weights for nocv)
        assert all(not torch.equal(state["model"][k], v) for k, v in init.items() if v.is_floating_point())
        assert (state["net_config"]["cost_volume"], state["net_config"]["multi_scale"]) == {
            "oracle": (True, True), "nocv-nms": (False, False)}[variant]  # fmt: skip
        rows = list(csv.DictReader((tmp_path / variant / "train_log.csv").open()))
        census = [r["census"] for r in rows]  # the oracle fits ground truth: no photometric terms at all
        assert census == ["", ""] if variant == "oracle" else all(float(c) > 0 for c in census)
    with pytest.raises(ConfigError, match="variant = 'bogus'; valid values: 'full', 'nms', 'nocv-nms', 'oracle'"):
        tiny_cfg(tiny_root, variant="bogus")


def test_non_finite_loss_stops_clearly(tiny_root, tmp_path):
    with pytest.raises(NonFiniteLoss, match="non-finite loss at step 0"):
        train_flow(tiny_cfg(tiny_root, loss=LossConfig(w_diff=float("nan"))), tmp_path / "n", progress=False)


def test_stage1_picks_its_device_with_the_one_picker(tiny_root, tmp_path, monkeypatch):
    import ufsn.distributed
    import ufsn.flow.train

    asked = []

    def spy(requested="auto"):
        asked.append(requested)
        return torch.device("cpu")

    monkeypatch.setattr(ufsn.distributed, "pick_device", spy)  # through init_distributed, as the streams pick it
    with pytest.raises(NonFiniteLoss):  # stops at step 0: only the device choice matters here
        train_flow(tiny_cfg(tiny_root, device="auto", loss=LossConfig(w_diff=float("nan"))), tmp_path / "d",
                   progress=False)  # fmt: skip
    assert asked == ["auto"] and not hasattr(ufsn.flow.train, "resolve_device")


def test_cli_train_flow_writes_record_and_refuses_overwrite(tiny_root, tmp_path):
    from bench.cli import main
    from bench.runs import load_record

    config = tmp_path / "tiny.toml"
    config.write_text("steps = 2\nbatch_size = 2\ncrop = [48, 48]\ncheckpoint_every = 2\nval_pairs = 2\n"
                      "[net]\nchannels = [8, 8, 8]\noutput_level = 2\nfeature_proj = 8\ndecoder_widths = [8]\n"
                      "context = false\n[loss]\nlevel_weights = [1.0]\n")  # fmt: skip
    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    args = ["train-flow", "--root", str(root), "--dataset", "synthetic", "--config", str(config), "--no-progress"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    folder = root / "synthetic" / "runs" / "flow-full-split1"
    record = load_record(folder)
    assert record.method == "flow-full" and record.split == 1 and record.config["steps"] == 2
    keys = set(json.loads((folder / "record.json").read_text()))
    assert keys >= {"name", "method", "dataset", "split", "metrics", "flow_metrics", "params", "config", "weights",
                    "device", "seconds", "git_commit", "created"}  # fmt: skip
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "--resume" in again.output
    assert CliRunner().invoke(main, [*args, "--force"]).exit_code == 0
    overridden = CliRunner().invoke(main, [*args, "--force", "--set", "steps=1", "--set", "net.max_displacement=2"])
    assert overridden.exit_code == 0, overridden.output
    assert load_record(folder).config["steps"] == 1 and load_record(folder).config["net"]["max_displacement"] == 2
    typo = CliRunner().invoke(main, [*args, "--force", "--set", "net.chanels=[8]"])
    assert typo.exit_code != 0 and "[net]: unknown key 'chanels'" in typo.output


def test_cli_train_flow_takes_packaged_config_names(tiny_root, tmp_path):
    # As `train --config tiny` does: a bench/configs name (".toml" optional), not only a path.
    from bench.cli import main
    from bench.runs import load_record

    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    args = ["train-flow", "--root", str(root), "--dataset", "synthetic", "--steps", "1", "--no-progress"]
    result = CliRunner().invoke(main, [*args, "--config", "flow_tiny"])
    assert result.exit_code == 0, result.output
    config = load_record(root / "synthetic" / "runs" / "flow-full-split1").config
    assert config["lr"] == 4e-4 and config["net"]["channels"] == [8, 12, 16, 24]  # bench/configs/flow_tiny.toml
    missing = CliRunner().invoke(main, [*args, "--config", "flow_nosuch", "--name", "x"])
    assert missing.exit_code == 1 and isinstance(missing.exception, SystemExit), missing.output
    assert missing.output.startswith("Error: ") and "bench/configs" in missing.output


def test_crop_scores_equal_numpys_window_means():
    from ufsn.flow.augment import crop_scores

    g = torch.Generator().manual_seed(3)
    img1, img2 = torch.rand(2, 3, 12, 15, generator=g), torch.rand(2, 3, 12, 15, generator=g)
    diff = np.abs(img1.numpy() - img2.numpy()).mean(axis=1)  # (2, 12, 15)
    expected = np.array([[[diff[b, y : y + 5, x : x + 7].mean() for x in range(15 - 7 + 1)]
                          for y in range(12 - 5 + 1)] for b in range(2)])  # fmt: skip
    got = crop_scores(img1, img2, (5, 7))
    assert got.shape == (2, 8, 9)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_motion_crops_land_on_the_moving_patch():
    from ufsn.flow.augment import motion_crop_corners

    img1 = torch.full((2, 3, 40, 60), 0.5)
    img2 = img1.clone()
    img2[0, :, 20:30, 40:50] = 1.0  # sample 0 changes only in this 10x10 patch
    img2[1, :, 0:10, 0:10] = 0.0  # sample 1 in the top-left corner
    g = torch.Generator().manual_seed(0)
    hits = torch.zeros(2)
    for _ in range(50):
        corners = motion_crop_corners(img1, img2, (16, 16), g, uniform=0.05)  # (2, 2) as (y0, x0)
        y0, x0 = corners[0].tolist()
        hits[0] += y0 < 30 and y0 + 16 > 20 and x0 < 50 and x0 + 16 > 40
        y1, x1 = corners[1].tolist()
        hits[1] += y1 < 10 and x1 < 10
    # with 5% uniform mass, the window overlaps the patch in > 80% of the draws (uniform crops: ~25%)
    assert hits[0] > 40 and hits[1] > 40


def test_geometric_with_motion_crops_keeps_flow_signs(tiny_root):
    paths = DatasetPaths(tiny_root, "synthetic")
    bank = load_bank(paths, split_videos(paths, 1, ("test",))[:4])
    img1, img2, flow, noc = bank.batch(_moving(bank, 8))
    g = torch.Generator().manual_seed(0)
    a1, a2, af, an = geometric(img1, img2, flow, noc, g, crop=(40, 40), motion_crops=True)
    assert a1.shape == (8, 3, 40, 40) and af.shape == (8, 2, 40, 40)
    warped, valid = warp(a2, af)
    mask = valid * an
    err = ((warped - a1).abs() * mask).sum() / mask.sum()
    wrong, _ = warp(a2, -af)
    assert err < 0.6 * ((wrong - a1).abs() * mask).sum() / mask.sum()


def test_late_loss_switches_the_weights_at_late_step(tiny_root):
    from ufsn.flow.net import FlowNet
    from ufsn.flow.train import compute_loss

    late = LossConfig(w_census=0.02, level_weights=(1.0, 0.5))
    cfg = tiny_cfg(tiny_root, late_loss=late, late_step=5, occlusion_warmup=-1)
    assert cfg.loss_at(4) == cfg.loss and cfg.loss_at(5) == late and cfg.loss_at(10**6) == late
    assert tiny_cfg(tiny_root, late_loss=late).loss_at(10**6) == cfg.loss  # late_step -1: never
    assert FlowTrainConfig.from_dict(cfg.to_dict()) == cfg
    paths = DatasetPaths(tiny_root, "synthetic")
    bank = load_bank(paths, split_videos(paths, 1, ("test",))[:2])
    img1, img2, flow, noc = bank.batch(_moving(bank, 2))
    torch.manual_seed(0)
    net = FlowNet(TINY_NET)
    for step, w_census in ((4, 1.0), (5, 0.02)):
        _, m = compute_loss(net, cfg, step, img1, img2, flow, noc)
        # metrics hold each term summed over levels with the level weights; the total weighs the terms
        assert m["census"] > 1.0 and m["loss"] == pytest.approx(m["diff"] + w_census * m["census"] + 4.0 * m["smooth"])


def test_late_loss_table_overrides_the_loss_table(tmp_path):
    from bench.stage1 import load_flow_config

    config = tmp_path / "late.toml"
    config.write_text("late_step = 7\n[loss]\nrobust_q = 1.0\nw_smooth = 2.0\n[late_loss]\nw_census = 0.0\n")
    cfg = load_flow_config(config)
    assert cfg.late_step == 7 and cfg.loss == LossConfig(robust_q=1.0, w_smooth=2.0)
    assert cfg.late_loss == LossConfig(robust_q=1.0, w_smooth=2.0, w_census=0.0)


def test_shipped_flow_configs_parse_and_the_synthetic_ones_end_on_steps():
    from importlib import resources

    from bench.stage1 import load_flow_config

    names = sorted(p.name for p in (resources.files("bench") / "configs").iterdir() if p.name.startswith("flow_"))
    assert {"flow_synthetic.toml", "flow_synthetic_study.toml", "flow_tiny.toml"} <= set(names)
    configs = {name: load_flow_config(name) for name in names}
    default, study = configs["flow_synthetic.toml"], configs["flow_synthetic_study.toml"]
    assert default.net == study.net and default.loss == study.loss and default.steps > study.steps
    for name in ("flow_synthetic.toml", "flow_synthetic_study.toml"):
        cfg = configs[name]  # a step budget: the lr follows the step alone, whatever max_minutes says
        assert cfg.steps <= 5000, name
        decay = round(cfg.lr_decay_at * cfg.steps)
        assert [cfg.lr_at(s) for s in (0, decay - 1, decay, cfg.steps - 1)] == [cfg.lr] * 2 + [
            cfg.lr * cfg.lr_decay
        ] * 2
    for name in ("flow_ucf101.toml", "flow_hmdb51.toml"):
        assert configs[name].max_videos is None, name  # every training video streams


def test_stage1_config_errors_name_file_section_and_key(tmp_path):
    from bench.stage1 import load_flow_config
    from ufsn.errors import ConfigError

    config = tmp_path / "typo.toml"
    config.write_text("steps = 5\n[net]\nchanels = [8, 8]\n")
    with pytest.raises(ConfigError, match=r"typo.toml: \[net\]: unknown key 'chanels'"):
        load_flow_config(config)
    with pytest.raises(ConfigError, match=r"flow_tiny.toml: \[loss\]: unknown key 'w_sensus'"):
        load_flow_config("flow_tiny", ("loss.w_sensus=1.0",))
    with pytest.raises(ConfigError, match=r"flow_tiny.toml: top level: unknown key 'stepz'"):
        load_flow_config("flow_tiny", ("stepz=3",))


def test_stage1_overrides_reach_the_net_the_loss_and_the_checkpoint_reader(tmp_path):
    from bench.stage1 import load_flow_config
    from ufsn.checkpoint import save_checkpoint
    from ufsn.flow.net import FlowNet
    from ufsn.flow.train import load_estimator

    cfg = load_flow_config("flow_tiny", ("net.max_displacement=2", "loss.w_census=0.5", "lr=2e-4"), steps=3)
    assert (cfg.net.max_displacement, cfg.loss.w_census, cfg.lr, cfg.steps) == (2, 0.5, 2e-4, 3)
    net = FlowNet(cfg.resolved_net())
    save_checkpoint(tmp_path / "c.pt", {"model": net.state_dict(), "net_config": dataclasses.asdict(net.config)})
    assert load_estimator(tmp_path / "c.pt").config == net.config
