"""ufsn-data tvl1: parameters = OpenCV's, EPE against exact flow, quantisation round trip, bad folders, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from extract_helpers import copy_videos, moving_frames, write_avi

from pipeline.cli import main
from pipeline.steps.extract import ExtractConfig, run_extract
from pipeline.steps.tvl1.opencv import compute_tvl1
from pipeline.steps.tvl1.params import TVL1Params
from pipeline.steps.tvl1.step import TVL1Config, run_tvl1
from pipeline.storage.flowcode import dequantize_flow, quantize_flow
from pipeline.storage.manifest import read_manifest
from pipeline.storage.paths import DatasetPaths

# Measured on this subset (every 12th clip of tiny, seed 0, non-occluded pixels): TV-L1 EPE 0.553 px after
# quantisation and JPEG, zero flow 1.426 px (ratio 0.39); pixels moving > 1 px: ratio 0.338.
EPE_BOUND = 0.8
EPE_RATIO_BOUND = 0.55  # all visible pixels; actors move 1-10 px/frame and TV-L1 misses part of the large motions
MOVING_RATIO_BOUND = 0.5  # pixels moving > 1 px: a sign error gives ~2, a unit error ~1 or more


def test_params_defaults_are_opencv_defaults():
    import cv2

    algo = cv2.optflow.DualTVL1OpticalFlow_create()
    p = TVL1Params()
    assert (p.tau, p.lambda_, p.theta, p.epsilon, p.scale_step, p.gamma) == pytest.approx(
        (algo.getTau(), algo.getLambda(), algo.getTheta(), algo.getEpsilon(), algo.getScaleStep(), algo.getGamma())
    )
    assert (p.nscales, p.warps, p.inner_iterations, p.outer_iterations, p.median_filtering) == (
        algo.getScalesNumber(),
        algo.getWarpingsNumber(),
        algo.getInnerIterations(),
        algo.getOuterIterations(),
        algo.getMedianFiltering(),
    )


def test_compute_tvl1_recovers_a_translation():
    import cv2

    frames = moving_frames(2, 96, 64)  # content moves 2 px left between frames (window slides right)
    g0, g1 = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames)
    flow = compute_tvl1(g0, g1, TVL1Params())
    assert flow.shape == (64, 96, 2) and flow.dtype == np.float32
    inner = flow[8:-8, 8:-8]
    assert np.median(inner[..., 0]) == pytest.approx(-2.0, abs=0.1)
    assert np.median(inner[..., 1]) == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("fmt", ["jpg", "png"])
def test_quantisation_round_trip(fmt):
    import cv2

    rng = np.random.default_rng(0)
    # Smooth in-bound flow, like real flow fields (JPEG error on white noise says nothing).
    flow = cv2.resize(rng.uniform(-19, 19, (8, 8)).astype(np.float32), (64, 64), interpolation=cv2.INTER_CUBIC)
    flow = np.clip(flow, -19.9, 19.9)
    code = quantize_flow(flow, 20)
    ok, data = cv2.imencode(f".{fmt}", code, [cv2.IMWRITE_JPEG_QUALITY, 95] if fmt == "jpg" else [])
    decoded = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    back = dequantize_flow(decoded, 20)
    step = 40 / 255
    jpeg_steps = np.abs(decoded.astype(int) - code).max()  # JPEG error, in code steps
    assert np.abs(back - flow).max() <= step / 2 + jpeg_steps * step + 1e-5
    if fmt == "png":
        assert jpeg_steps == 0 and np.abs(back - flow).max() <= step / 2 + 1e-5


def test_epe_on_tiny_preset_against_ground_truth(tiny_root, tmp_path):
    import cv2

    ids = copy_videos(tiny_root, tmp_path, every=12)
    run_extract(ExtractConfig(root=tmp_path, dataset="synthetic"), progress=False)
    summary = run_tvl1(TVL1Config(root=tmp_path, dataset="synthetic", workers=2), progress=False)
    assert (summary.done, summary.failed) == (len(ids), 0)
    paths = DatasetPaths(tmp_path, "synthetic")
    epe, zero, epe_moving, zero_moving = [], [], [], []
    for vid in ids:
        gt = np.load(paths.flow_gt_npz(vid))
        truth, valid = gt["flow"].astype(np.float32), ~gt["occluded"]  # (T-1, H, W, 2), (T-1, H, W)
        for i in range(truth.shape[0]):
            x = cv2.imread(str(paths.flow_dir(vid) / f"flow_x_{i + 1:05d}.jpg"), cv2.IMREAD_GRAYSCALE)
            y = cv2.imread(str(paths.flow_dir(vid) / f"flow_y_{i + 1:05d}.jpg"), cv2.IMREAD_GRAYSCALE)
            est = np.stack([dequantize_flow(x), dequantize_flow(y)], axis=-1)  # (H, W, 2)
            err, mag = np.linalg.norm(est - truth[i], axis=-1), np.linalg.norm(truth[i], axis=-1)  # (H, W) each
            epe.append(err[valid[i]].mean())
            zero.append(mag[valid[i]].mean())
            moving = valid[i] & (mag > 1.0)
            epe_moving.append(err[moving].sum())
            zero_moving.append(mag[moving].sum())
    moving_ratio = sum(epe_moving) / sum(zero_moving)
    print(f"TV-L1 EPE {np.mean(epe):.3f} vs zero {np.mean(zero):.3f}; moving pixels ratio {moving_ratio:.3f}")
    assert np.mean(epe) < EPE_BOUND
    assert np.mean(epe) < EPE_RATIO_BOUND * np.mean(zero)
    assert moving_ratio < MOVING_RATIO_BOUND
    recorded = json.loads((paths.tvl1 / "tvl1_config.json").read_text())
    assert recorded["bound"] == 20.0 and recorded["params"]["lambda_"] == 0.15


def _frames_dataset(root, counts):
    for name, count in counts.items():
        write_avi(root / "d" / "videos" / "A" / f"{name}.avi", moving_frames(count, 48, 32))
    run_extract(ExtractConfig(root=root, dataset="d"), progress=False)
    return DatasetPaths(root, "d")


def test_missing_frame_and_one_frame_video(tmp_path):
    paths = _frames_dataset(tmp_path, {"v_ok": 3, "v_one": 1, "v_gap": 4, "v_tail": 3})
    (paths.frame_dir("v_gap") / "img_00002.jpg").unlink()
    (paths.frame_dir("v_tail") / "img_00003.jpg").unlink()  # only the extract manifest knows it is missing
    summary = run_tvl1(TVL1Config(root=tmp_path, dataset="d", format="png"), progress=False)
    rows = read_manifest(summary.manifest)
    assert (summary.done, summary.failed, summary.skipped) == (1, 2, 1)
    assert rows["v_ok"].frames == 2 and sorted(p.name for p in paths.flow_dir("v_ok").iterdir()) == [
        "flow_x_00001.png", "flow_x_00002.png", "flow_y_00001.png", "flow_y_00002.png",
    ]  # fmt: skip
    assert rows["v_one"].status == "skipped" and "1 frame" in rows["v_one"].error
    assert str(paths.frame_dir("v_gap") / "img_00002.jpg") in rows["v_gap"].error
    assert str(paths.frame_dir("v_tail") / "img_00003.jpg") in rows["v_tail"].error
    assert not paths.flow_dir("v_gap").exists()


def test_cuda_without_cuda_build_is_a_clear_error(tmp_path):
    import cv2

    if cv2.cuda.getCudaEnabledDeviceCount() > 0:
        pytest.skip("this OpenCV has CUDA")
    _frames_dataset(tmp_path, {"v_ok": 2})
    result = CliRunner().invoke(main, ["tvl1", "--root", str(tmp_path), "--dataset", "d", "--device", "cuda"])
    assert result.exit_code == 1 and "needs OpenCV built with CUDA" in result.output


def test_cli_tvl1_resumes(tmp_path):
    paths = _frames_dataset(tmp_path, {"v_a": 3, "v_b": 2})
    args = ["tvl1", "--root", str(tmp_path), "--dataset", "d", "--bound", "10", "--lambda", "0.3"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0 and "2 done, 0 failed" in first.output, first.output
    stamp = (paths.flow_dir("v_a") / "flow_x_00001.jpg").stat().st_mtime_ns
    assert CliRunner().invoke(main, args).exit_code == 0
    assert (paths.flow_dir("v_a") / "flow_x_00001.jpg").stat().st_mtime_ns == stamp
    recorded = json.loads((paths.tvl1 / "tvl1_config.json").read_text())
    assert recorded["bound"] == 10.0 and recorded["params"]["lambda_"] == 0.3
    changed = CliRunner().invoke(main, ["tvl1", "--root", str(tmp_path), "--dataset", "d"])
    assert changed.exit_code == 1 and "--force" in changed.output  # the data's settings, not a usage error


# Runs in a fresh interpreter: run_tvl1 (OpenCV, 2 local workers), then which of its child processes mapped
# cv2 (the workers that ran a task; not loky's resource tracker) and which mapped libtorch.
_WORKER_PROBE = """
import json, os, sys
from pathlib import Path
from pipeline.steps.tvl1.step import TVL1Config, run_tvl1

summary = run_tvl1(TVL1Config(root=Path(sys.argv[1]), dataset="d", workers=2), progress=False)
maps = {}
for stat in Path("/proc").glob("[0-9]*/stat"):
    try:
        if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == os.getpid():  # field 4: parent pid
            maps[stat.parent.name] = (stat.parent / "maps").read_text()
    except (OSError, IndexError):  # gone meanwhile
        pass
import torch  # the check's own control: a process that imported torch maps libtorch
control = "libtorch" in Path("/proc/self/maps").read_text()
workers = [("libtorch" in m) for m in maps.values() if "/cv2/" in m]
print(json.dumps({"done": summary.done, "workers_with_torch": workers, "control": control}))
"""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/<pid>/maps (Linux)")
def test_opencv_workers_never_import_torch(tmp_path):
    _frames_dataset(tmp_path, {"v_a": 3, "v_b": 3})
    run = subprocess.run(
        [sys.executable, "-c", _WORKER_PROBE, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.splitlines()[-1])
    assert report["done"] == 2 and report["control"]
    assert report["workers_with_torch"] and not any(report["workers_with_torch"]), report
