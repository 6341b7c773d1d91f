"""``ufsn-bench real-flow``: warping residuals by hand and against NumPy, then the command on the real clips."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from bench.real_flow import CLIPS, PARTS, RealFlowConfig, held_out_pairs
from ufsn.flow.viz import read_flo
from ufsn.flow.warp_errors import warp_error_sums


def _t(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)


def test_residuals_vanish_for_the_true_shift_and_match_numpy_for_zero_flow():
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (20, 40, 3), dtype=np.uint8)
    img1, img2 = big[:, 4:34], big[:, 2:32]  # img1's content at x is in img2 at x + 2
    flow = torch.zeros(1, 2, 20, 30)
    flow[:, 0] = 2.0
    true = warp_error_sums(_t(img1), _t(img2), flow)
    assert true.photometric / true.photometric_pixels < 1e-3  # grey levels: float rounding of the sample grid
    assert true.census / true.census_pixels < 1e-4  # float rounding only
    assert true.census_pixels == (20 - 6) * (28 - 6)  # patches reaching the unsampled columns are left out
    assert true.photometric_pixels == 20 * 28  # the last 2 columns sample outside img2
    zero = warp_error_sums(_t(img1), _t(img2), torch.zeros(1, 2, 20, 30))
    expected = np.abs(img1.astype(np.float64) - img2).mean(axis=2).sum()  # 0..255 scale, every pixel valid
    assert zero.photometric == pytest.approx(expected, rel=1e-5) and zero.photometric_pixels == 600
    assert zero.census > 0 and zero.census_pixels == (20 - 6) * (30 - 6)  # 7x7 patches inside the frame


def test_unknown_benchmark_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown benchmark 'sintel'; valid: middlebury, kitti, chairs"):
        RealFlowConfig(realdata=tmp_path, benchmarks=("sintel",))


def test_command_on_the_real_clips(realdata, tmp_path):
    from bench.cli import main

    root, results = tmp_path / "data", tmp_path / "results"
    args = ["real-flow", "--realdata", str(realdata), "--root", str(root), "--results", str(results), "--steps", "2",
            "--max-pairs", "4", "--benchmark", "chairs", "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    base = root / "realclips"
    split = pd.read_csv(base / "splits" / "split1.csv")
    assert sorted(split[split.subset == "test"].video_id) == sorted(v + "__heldout" for _, v, _ in CLIPS)
    assert sorted(split[split.subset == "train"].video_id) == sorted(v + "__train" for _, v, _ in CLIPS)
    whole = sorted((base / "frames" / "v_Basketball_g01_c01").glob("img_*.jpg"))
    assert len(whole) == 141  # native frames, all
    # The first 106 frames (round(0.75 x 141)) train and the last 35 are held out: the same files, renumbered.
    train, heldout = (sorted((base / "frames" / f"v_Basketball_g01_c01{PARTS[s]}").glob("img_*.jpg"))
                      for s in ("train", "test"))  # fmt: skip
    assert (len(train), len(heldout)) == (106, 35)
    assert os.path.samefile(train[-1], whole[105]) and os.path.samefile(heldout[0], whole[106])
    warping = pd.read_csv(results / "realclips" / "warping.csv")
    assert list(warping.method) == ["UF (trained on the real clips)", "TV-L1 (OpenCV)", "DIS (OpenCV, medium)",
                                    "zero flow"]  # fmt: skip
    # Zero flow's photometric residual recomputed with NumPy on the same held-out pairs.
    pairs = held_out_pairs(root, 4)
    total = sum(np.abs(a.astype(np.float64) - b).mean(axis=2).sum() for a, b in pairs)
    pixels = sum(a.shape[0] * a.shape[1] for a, _ in pairs)
    assert warping.loc[3, "pairs"] == 4  # the CSV keeps 4 significant digits:
    assert warping.loc[3, "photometric"] == pytest.approx(total / pixels, rel=5e-4)
    truth = pd.read_csv(results / "realclips" / "ground_truth.csv")
    assert set(truth.benchmark) == {"chairs"} and len(truth) == 4
    flo_files = sorted((realdata / "flow_gt" / "flyingchairs_flownet2").glob("*.flo"))
    lengths = np.concatenate([np.hypot(*read_flo(f).reshape(-1, 2).T) for f in flo_files])
    zero = truth[truth.method == "zero flow"].iloc[0]
    assert zero.epe == pytest.approx(lengths.mean(), rel=5e-4) and zero.fl_all == pytest.approx(
        (lengths > 3).mean(), rel=5e-4
    )
    # A rerun keeps the trained estimator.
    checkpoint = base / "runs" / "flow-full-split1" / "checkpoint.pt"
    before = os.stat(checkpoint).st_mtime_ns
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert os.stat(checkpoint).st_mtime_ns == before


def test_command_under_torchrun_trains_on_both_ranks_and_rank0_alone_writes(realdata, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from bench.runs import load_record

    root, results = tmp_path / "data", tmp_path / "results"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd = [*torchrun, str(Path(sys.executable).with_name("ufsn-bench")), "real-flow", "--realdata", str(realdata),
           "--root", str(root), "--results", str(results), "--steps", "2", "--max-pairs", "4", "--benchmark", "chairs",
           "--no-progress"]  # fmt: skip
    done = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    record = load_record(root / "realclips" / "runs" / "flow-full-split1")
    assert record.world_size == 2 and record.flow_metrics["steps"] == 2
    assert done.stdout.count("== warping") == 1 and done.stdout.count("== ground truth") == 1  # one process prints
    warping = pd.read_csv(results / "realclips" / "warping.csv")
    assert list(warping.pairs) == [4, 4, 4, 4]
    frames = root / "realclips" / "frames"
    assert not [p.name for p in frames.iterdir() if ".tmp" in p.name]  # every part folder renamed into place
    assert sorted(p.name for p in frames.glob("*__heldout")) == sorted(v + "__heldout" for _, v, _ in CLIPS)
