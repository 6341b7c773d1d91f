"""flow-eval: error sums by hand, the CLI on a tiny run and on a Middlebury-style folder."""

import csv
import shutil

import click
import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ufsn.flow.evaluate import (
    CSV_COLUMNS,
    ErrorSums,
    FlowEvalRow,
    PairSet,
    accuracy,
    classical_flows,
    flow_metrics,
    markdown_table,
    split_pairs,
    uf_flows,
)
from ufsn.flow.losses import LossConfig
from ufsn.flow.net import FlowNet, FlowNetConfig
from ufsn.flow.train import FlowTrainConfig, train_flow
from ufsn.flow.viz import write_flo


def test_error_sums_hand_worked():
    gt = np.zeros((1, 4, 2), np.float32)
    pred = np.array([[[0, 0], [3, 4], [0.5, 0], [0, 2]]], np.float32)  # errors 0, 5, 0.5, 2
    valid = np.ones((1, 4), bool)
    noc = np.array([[True, False, True, True]])
    s = ErrorSums()
    s.add(pred, gt, valid, noc)
    epe, epe_noc, o1, o3, moving, ci, ci_moving, *_ = s.summary()
    assert epe == pytest.approx(7.5 / 4) and epe_noc == pytest.approx(2.5 / 3)
    assert o1 == pytest.approx(0.5) and o3 == pytest.approx(0.25)
    assert moving is None and ci_moving is None  # nothing moves in this ground truth
    assert ci == 0.0  # one pair: every bootstrap resample is that pair


@pytest.mark.parametrize("method", ["tvl1", "dis"])
def test_classical_accuracy_on_two_threads_keeps_each_pair_in_order(method):
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (40, 48, 3)).astype(np.float32), (0, 0), 1.5)
    shifts = [(1, 0), (0, 2), (3, 1), (0, 0), (2, 2)]  # a different motion per pair: order errors show
    img1 = [np.clip(texture[4:36, 4:44], 0, 255).astype(np.uint8) for _ in shifts]
    img2 = [np.clip(texture[4 - dy : 36 - dy, 4 - dx : 44 - dx], 0, 255).astype(np.uint8) for dx, dy in shifts]
    flow = [np.broadcast_to(np.float32(s), (32, 40, 2)).copy() for s in shifts]
    pairs = PairSet(img1, img2, flow, [np.ones((32, 40), bool)] * len(shifts), None)
    threaded = accuracy(classical_flows(method, pairs, threads=2), pairs).per_pair
    for i, (a, b) in enumerate(zip(img1, img2, strict=True)):  # reference: OpenCV directly, a new instance per pair
        if method == "tvl1":
            direct = cv2.optflow.DualTVL1OpticalFlow_create()
        else:  # a DIS instance keeps state from its previous call: reused, the second pair's flow differs
            direct = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        pred = direct.calc(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), None)
        assert threaded[i][0] == pytest.approx(np.linalg.norm(pred - flow[i], axis=-1).sum(), rel=1e-4)
        assert threaded[i][1] == 32 * 40


def test_uf_flows_in_batches_equal_each_pair_alone():
    torch.manual_seed(0)
    net = FlowNet(FlowNetConfig(channels=(8, 12, 16), decoder_widths=(16, 8), context=False)).eval()
    with torch.no_grad():  # away from the zero-flow init
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    rng = np.random.default_rng(1)
    sizes = [(32, 32), (32, 32), (32, 32), (24, 40), (32, 32)]  # batch 2: [0, 1], [2], [3], [4]
    img1 = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
    img2 = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
    pairs = PairSet(img1, img2, [np.zeros((h, w, 2), np.float32) for h, w in sizes], [], None)
    flows = list(uf_flows(net, pairs, "cpu", batch=2))
    assert [f.shape for f in flows] == [(h, w, 2) for h, w in sizes]
    for a, b, flow in zip(img1, img2, flows, strict=True):
        with torch.no_grad():
            alone = net(
                torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255,
                torch.from_numpy(b).permute(2, 0, 1)[None].float() / 255,
            )
        np.testing.assert_allclose(flow, alone.full[0].permute(1, 2, 0).numpy(), rtol=1e-4, atol=1e-5)
        assert np.abs(flow).max() > 1e-3  # a non-trivial flow


def test_error_sums_interval_over_pairs():
    # Two pairs of 4 pixels with EPE 1 and 3: resampling the pairs gives means 1, 2 or 3 with
    # probabilities 1/4, 1/2, 1/4, so the 2.5-97.5 percentile interval is [1, 3] (half-width 1).
    s = ErrorSums()
    for err in (1.0, 3.0):
        gt = np.zeros((2, 2, 2), np.float32)
        s.add(gt + np.array([err, 0], np.float32), gt, np.ones((2, 2), bool), None)
    summary = s.summary()
    assert summary.epe == pytest.approx(2.0) and summary.epe_ci95 == pytest.approx(1.0)


def test_error_sums_moving_pixels_hand_worked():
    gt = np.array([[[0, 0], [3, 4], [0.6, 0.8], [0, 2]]], np.float32)  # |gt| = 0, 5, 1 (not > 1), 2
    pred = np.zeros_like(gt)  # zero flow: error = |gt|
    s = ErrorSums()
    s.add(pred, gt, np.ones((1, 4), bool), None)
    summary = s.summary()
    assert summary.epe == pytest.approx(8 / 4)
    assert summary.epe_moving == pytest.approx((5 + 2) / 2)  # only the pixels moving more than 1 px


def test_error_sums_boundary_and_background_hand_worked():
    # One row of 9 pixels: pixel 0 moves 5 px, the rest move 0.1 .. 0.8 px (static). Pixels 1-3 lie
    # within 3 px of the moving one (boundary), pixels 4-8 beyond it (background). Zero flow: error = |gt|.
    gt = np.zeros((1, 9, 2), np.float32)
    gt[0, :, 0] = [5, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    valid = np.ones((1, 9), bool)
    valid[0, 8] = False  # invalid pixels count in no group
    gt[0, 8, 0] = 1e9  # and their unknown flow (Middlebury's 1e9) makes no neighbour a boundary pixel
    s = ErrorSums()
    s.add(np.zeros_like(gt), gt, valid, None)
    summary = s.summary()
    assert summary.epe_moving == pytest.approx(5.0)
    assert summary.epe_boundary == pytest.approx((0.1 + 0.2 + 0.3) / 3)
    assert summary.epe_background == pytest.approx((0.4 + 0.5 + 0.6 + 0.7) / 4)
    assert summary.epe == pytest.approx((5 + 0.6 + 2.2) / 8)
    assert summary.epe_boundary_ci95 == 0.0  # one pair: every bootstrap resample is that pair


def test_error_sums_groups_are_empty_without_motion():
    s = ErrorSums()
    s.add(np.ones((3, 3, 2), np.float32), np.zeros((3, 3, 2), np.float32), np.ones((3, 3), bool), None)
    summary = s.summary()
    assert summary.epe_moving is None and summary.epe_boundary is None
    assert summary.epe_background == pytest.approx(np.sqrt(2))


def test_no_valid_pixel_gives_no_error_figures_and_no_ratios():
    gt, pred = np.zeros((2, 3, 2), np.float32), np.ones((2, 3, 2), np.float32)  # error sqrt(2) everywhere
    s = ErrorSums()
    s.add(pred, gt, np.zeros((2, 3), bool), None)  # ground truth known nowhere (KITTI's valid bit all 0)
    summary = s.summary()
    assert summary.epe is None and summary.epe_ci95 is None  # not 0.0, a perfect score
    assert summary.outlier_1px is None and summary.outlier_3px is None and summary.fl_all is None
    common = dict(fps=None, fps_batch=None, best_batch=None, resolution="3x2", eval_size="3x2", device="cpu",
                  threads=1)  # fmt: skip
    rows = [FlowEvalRow("uf", "x", 1, **summary._asdict(), **common),
            FlowEvalRow("tvl1", "x", 1, **summary._asdict(), **common)]  # fmt: skip
    uf_line = markdown_table(rows).splitlines()[2]
    assert uf_line.startswith("| uf | 1 | - | - | - |") and "0.000" not in uf_line
    assert flow_metrics(rows)["epe_ratio_tvl1"] is None and "epe_ratio_zero" not in flow_metrics(rows)


@pytest.fixture(scope="module")
def tiny_run(tiny_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("evalroot")
    shutil.copytree(tiny_root, root, dirs_exist_ok=True)
    from bench.runs import RunRecord, prepare_run, write_record

    folder = prepare_run(root, "synthetic", "flow-full-split1")
    cfg = FlowTrainConfig(root=str(root), steps=1, batch_size=2, crop=(48, 48), val_pairs=2,
                          net=FlowNetConfig(channels=(8, 8, 8), feature_proj=8, decoder_widths=(8,), context=False),
                          loss=LossConfig(level_weights=(1.0,)))  # fmt: skip
    train_flow(cfg, folder, progress=False)
    write_record(folder, RunRecord(name="flow-full-split1", method="flow-full", dataset="synthetic", split=1))
    return root


def test_cli_flow_eval_run(tiny_run, tmp_path):
    from bench.cli import main
    from bench.runs import load_record

    out = tmp_path / "flow.csv"
    args = ["flow-eval", "--root", str(tiny_run), "--dataset", "synthetic", "--run", "flow-full-split1",
            "--max-pairs", "3", "--no-speed", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "| tvl1 |" in result.output and "| uf |" in result.output
    rows = list(csv.DictReader(out.open()))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["method"] for r in rows] == ["zero", "uf", "tvl1", "dis", "farneback"]
    assert all(r["pairs"] == "3" for r in rows)
    assert all(r["resolution"] == "-" for r in rows)  # --no-speed: no speed measurement, so no size to state
    pairs = split_pairs(tiny_run, "synthetic", 1, "test", 3)  # what the command scored (its defaults)
    magnitude = [np.linalg.norm(f, axis=-1)[v] for f, v in zip(pairs.flow, pairs.valid, strict=True)]
    assert float(rows[0]["epe"]) == pytest.approx(np.concatenate(magnitude).mean(), rel=1e-5)  # zero flow: mean |gt|
    assert float(rows[2]["epe"]) < float(rows[0]["epe"])  # TV-L1 beats zero flow on the synthetic pairs
    metrics = load_record(tiny_run / "synthetic" / "runs" / "flow-full-split1").flow_metrics["split1_test"]
    assert {"epe", "epe_noc", "epe_ratio_tvl1", "references"} <= set(metrics)


def test_cli_flow_eval_pairs_dir_and_speed(tiny_run, tmp_path):
    from bench.cli import main

    folder = tmp_path / "pair"
    folder.mkdir()
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur((rng.random((72, 72, 3)) * 255).astype(np.uint8), (5, 5), 1.5)
    cv2.imwrite(str(folder / "frame10.png"), base[4:68, 4:68])
    cv2.imwrite(str(folder / "frame11.png"), base[4:68, 2:66])  # content moves 2 px right
    flow = np.zeros((64, 64, 2), np.float32)
    flow[..., 0] = 2.0
    flow[0, 0] = 1e10  # one unknown pixel
    write_flo(folder / "flow10.flo", flow)
    ckpt = tiny_run / "synthetic" / "runs" / "flow-full-split1" / "checkpoint.pt"
    torch.set_num_threads(2)
    args = ["flow-eval", "--root", str(tiny_run), "--dataset", "synthetic", "--checkpoint", str(ckpt),
            "--pairs-dir", str(folder), "--size", "64x48", "--seconds", "0.05"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    tv = next(line for line in result.output.splitlines() if line.startswith("| tvl1 "))
    assert float(tv.split("|")[3]) < 0.5 and "64x48" in tv  # TV-L1 recovers the 2 px shift
    assert CliRunner().invoke(main, ["flow-eval", "--root", str(tiny_run), "--dataset", "synthetic"]).exit_code != 0


def test_one_size_parser_width_then_height():
    # One WxH parser for every command: a named (width, height), and flow-eval's speed pair is H x W of it.
    from pipeline.commands.options import parse_size
    from pipeline.frame_size import FrameSize
    from ufsn.flow.evaluate import PairSet, speed_pair

    size = parse_size("64x48")
    assert size == FrameSize(width=64, height=48) and (size.width, size.height) == (64, 48)
    img = np.zeros((20, 30, 3), np.uint8)
    a, b = speed_pair(PairSet([img], [img], [], [], None), size)
    assert a.shape == b.shape == (48, 64, 3)  # (H, W, 3)
    for bad in ("64", "64x", "axb", "4x64"):
        with pytest.raises(click.BadParameter):
            parse_size(bad)


def test_cli_flow_eval_on_real_kitti_and_chairs_pairs(tiny_run, realdata, tmp_path):
    from bench.cli import main

    ckpt = tiny_run / "synthetic" / "runs" / "flow-full-split1" / "checkpoint.pt"
    out = tmp_path / "real.csv"
    gt = realdata / "flow_gt"
    args = ["flow-eval", "--root", str(tiny_run), "--dataset", "synthetic", "--checkpoint", str(ckpt), "--no-speed",
            "--pairs-dir", str(gt / "kitti_example"), "--pairs-dir", str(gt / "flyingchairs_flownet2"),
            "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = {r["method"]: r for r in csv.DictReader(out.open())}
    assert rows["zero"]["pairs"] == "3" and rows["zero"]["eval_size"] == "mixed"
    # Zero flow's EPE is the mean ground-truth length over the valid pixels, computed here from the files.
    from ufsn.flow.viz import read_flo

    png = cv2.imread(str(gt / "kitti_example" / "flow_gt.png"), cv2.IMREAD_UNCHANGED)
    valid = png[..., 0] > 0
    kitti = np.hypot((png[..., 2][valid] - 32768.0) / 64, (png[..., 1][valid] - 32768.0) / 64)
    chairs = [np.hypot(*read_flo(f).reshape(-1, 2).T) for f in sorted((gt / "flyingchairs_flownet2").glob("*.flo"))]
    lengths = np.concatenate([kitti, *chairs])
    assert float(rows["zero"]["epe"]) == pytest.approx(lengths.mean(), rel=1e-5)
    assert float(rows["zero"]["fl_all"]) == pytest.approx((lengths > 3).mean(), rel=1e-6)  # 5% of |gt| < |gt|
    assert float(rows["tvl1"]["epe"]) < float(rows["zero"]["epe"])  # TV-L1 recovers some real motion
