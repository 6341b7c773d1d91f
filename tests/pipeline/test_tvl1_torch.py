"""PyTorch Dual TV-L1 (pipeline/steps/tvl1/pytorch.py): each step against OpenCV or a hand-worked case, the whole flow
against cv2.optflow on the same pairs, batching, degenerate images, and ``ufsn-data tvl1 --impl torch``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from extract_helpers import copy_videos, moving_frames

from pipeline.cli import main
from pipeline.steps.extract import ExtractConfig, run_extract
from pipeline.steps.tvl1.opencv import compute_tvl1
from pipeline.steps.tvl1.params import TVL1Params
from pipeline.steps.tvl1.pytorch import (
    auto_batch,
    centred_gradient,
    divergence,
    forward_gradient,
    median_blur,
    pyramid_sizes,
    resize_bilinear,
    threshold_step,
    tvl1_flow,
    tvl1_flow_numpy,
    warp_bicubic,
)
from pipeline.storage.flowcode import dequantize_flow
from pipeline.storage.paths import DatasetPaths

# Measured on the pairs below (seed 0): mean EPE between the two implementations 0.004-0.02 px, where
# the flows themselves are 1-3 px; on the Middlebury pairs 0.015-0.025 px (ufsn-bench perf tvl1).
BETWEEN_BOUND = 0.05


def _grey_pair(width=96, height=64, seed=0):
    import cv2

    frames = moving_frames(2, width, height, seed=seed)  # content moves 2 px left between the frames
    return tuple(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]  # (1, 1, H, W)


def test_pyramid_sizes_round_like_cv_resize_and_stop_below_16px():
    import cv2

    sizes = pyramid_sizes(256, 340, 5, 0.8)
    img = np.zeros((256, 340), np.float32)
    for h, w in sizes[1:]:
        img = cv2.resize(img, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_LINEAR)
        assert img.shape == (h, w)
    assert len(sizes) == 5
    assert pyramid_sizes(32, 40, 5, 0.5) == [(32, 40), (16, 20)]  # 8x10 would be below 16 px


@pytest.mark.parametrize("scale_or_size", [0.8, (41, 33), (80, 101)])
def test_resize_bilinear_matches_cv_resize(scale_or_size):
    import cv2

    img = np.random.default_rng(1).uniform(0, 255, (51, 64)).astype(np.float32)
    if isinstance(scale_or_size, float):
        ref = cv2.resize(img, None, fx=scale_or_size, fy=scale_or_size, interpolation=cv2.INTER_LINEAR)
        out = resize_bilinear(_t(img), ref.shape, scale_or_size)
    else:
        h, w = scale_or_size
        ref = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        out = resize_bilinear(_t(img), (h, w))
    np.testing.assert_allclose(out[0, 0].numpy(), ref, atol=2e-3)


def test_warp_bicubic_matches_cv_remap():
    import cv2

    rng = np.random.default_rng(2)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (40, 56)).astype(np.float32), (0, 0), 1.5)
    flow = rng.uniform(-6, 6, (40, 56, 2)).astype(np.float32)  # reaches outside the image at the edges
    xs, ys = np.meshgrid(np.arange(56, dtype=np.float32), np.arange(40, dtype=np.float32))
    ref = cv2.remap(img, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_CUBIC)  # constant-0 border
    out = warp_bicubic(_t(img), torch.from_numpy(flow).permute(2, 0, 1)[None])[0, 0].numpy()
    np.testing.assert_allclose(out, ref, atol=5e-3)  # grey levels 0..255


def test_centred_gradient_is_opencvs_half_differences():
    img = np.random.default_rng(3).uniform(0, 255, (7, 9)).astype(np.float32)
    gx, gy = (g[0, 0].numpy() for g in centred_gradient(_t(img)))
    ref_x, ref_y = np.gradient(img, axis=1), np.gradient(img, axis=0)  # central inside, one-sided at the edges
    ref_x[:, [0, -1]] *= 0.5  # OpenCV halves the one-sided differences too
    ref_y[[0, -1], :] *= 0.5
    np.testing.assert_allclose(gx, ref_x, atol=1e-4)
    np.testing.assert_allclose(gy, ref_y, atol=1e-4)


def test_divergence_is_minus_the_adjoint_of_forward_gradient():
    rng = np.random.default_rng(4)
    u = torch.from_numpy(rng.normal(size=(2, 2, 9, 11)))
    px, py = torch.from_numpy(rng.normal(size=(2, 2, 9, 11))), torch.from_numpy(rng.normal(size=(2, 2, 9, 11)))
    px[..., -1] = 0  # the dual field the scheme produces: forward_gradient is 0 there, so p stays 0
    py[..., -1, :] = 0
    ux, uy = forward_gradient(u)
    assert float((ux * px + uy * py).sum()) == pytest.approx(-float((u * divergence(px, py)).sum()), rel=1e-9)
    assert torch.all(ux[..., -1] == 0) and torch.all(uy[..., -1, :] == 0)


@pytest.mark.parametrize("size", [3, 5])
def test_median_blur_equals_cv_median_blur(size):
    import cv2

    u = np.random.default_rng(5).normal(size=(2, 13, 17)).astype(np.float32)
    out = median_blur(torch.from_numpy(u)[None], size)[0].numpy()
    for c in range(2):
        np.testing.assert_array_equal(out[c], cv2.medianBlur(u[c], size))


def test_threshold_step_hand_worked():
    # One pixel, gradient (3, 4): |grad|^2 = 25, l_t = 0.1 -> band |rho| <= 2.5.
    u = torch.tensor([1.0, -1.0]).view(1, 2, 1, 1)
    gvec = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)
    grad = torch.tensor(25.0).view(1, 1, 1, 1)
    for rho_c, fi in ((-10.0, 0.1), (10.0, -0.1), (1.5, -(1.5 - 1.0) / 25)):  # rho = rho_c + 3 - 4
        v = threshold_step(u, gvec, grad, torch.tensor(rho_c).view(1, 1, 1, 1), 0.1)
        np.testing.assert_allclose(v.flatten().numpy(), [1.0 + 3 * fi, -1.0 + 4 * fi], rtol=1e-6)
    flat = threshold_step(u, gvec * 0, grad * 0, torch.tensor(0.0).view(1, 1, 1, 1), 0.1)
    assert torch.equal(flat, u)  # no gradient, no residual: no data-term move


def test_a_translation_is_recovered_and_matches_opencv():
    g0, g1 = _grey_pair()
    flow = tvl1_flow_numpy(g0[None], g1[None])[0]  # (H, W, 2)
    assert flow.shape == (64, 96, 2) and flow.dtype == np.float32
    inner = flow[8:-8, 8:-8]
    assert np.median(inner[..., 0]) == pytest.approx(-2.0, abs=0.1)
    assert np.median(inner[..., 1]) == pytest.approx(0.0, abs=0.1)
    between = np.linalg.norm(flow - compute_tvl1(g0, g1), axis=-1).mean()
    assert between < BETWEEN_BOUND


@pytest.mark.parametrize(
    "params", [TVL1Params(), TVL1Params(gamma=0.1), TVL1Params(median_filtering=1, warps=3, scale_step=0.5)]
)
def test_opencv_and_torch_agree_on_a_real_pair(realdata, params):
    import cv2

    folder = realdata / "flow_gt" / "middlebury_RubberWhale"
    g0, g1 = (
        cv2.imread(str(folder / f), cv2.IMREAD_GRAYSCALE)[100:196, 200:328] for f in ("frame10.png", "frame11.png")
    )
    ours = tvl1_flow_numpy(g0[None], g1[None], params)[0]
    theirs = compute_tvl1(g0, g1, params)
    assert np.linalg.norm(theirs, axis=-1).mean() > 0.3  # the crop moves: the comparison says something
    assert np.linalg.norm(ours - theirs, axis=-1).mean() < BETWEEN_BOUND


def test_a_batch_gives_each_pair_its_own_flow():
    a0, a1 = _grey_pair(seed=0)
    b0, b1 = _grey_pair(seed=1)
    b1 = np.roll(b0, (1, 3), axis=(0, 1))  # another motion, so the two pairs stop at different iterations
    batch = tvl1_flow_numpy(np.stack([a0, b0]), np.stack([a1, b1]))
    alone = [tvl1_flow_numpy(a0[None], a1[None])[0], tvl1_flow_numpy(b0[None], b1[None])[0]]
    for got, want in zip(batch, alone, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-3)


@pytest.mark.parametrize("level", [0, 128, 255])
def test_flat_images_give_zero_flow_without_nan(level):
    flat = np.full((1, 40, 48), level, np.uint8)
    flow = tvl1_flow_numpy(flat, flat)
    assert np.isfinite(flow).all() and np.abs(flow).max() < 1e-6
    black_to_texture = tvl1_flow_numpy(np.zeros((1, 40, 48), np.uint8), _grey_pair(48, 40)[0][None])
    assert np.isfinite(black_to_texture).all()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        tvl1_flow(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9))
    with pytest.raises(ValueError, match="3x3"):
        tvl1_flow(torch.zeros(1, 1, 2, 8), torch.zeros(1, 1, 2, 8))


def test_compiled_iteration_matches_eager():
    g0, g1 = _grey_pair(48, 40)
    params = TVL1Params(nscales=2, warps=2)
    eager = tvl1_flow_numpy(g0[None], g1[None], params)
    fused = tvl1_flow_numpy(g0[None], g1[None], params, compile=True)
    np.testing.assert_allclose(fused, eager, atol=1e-3)


def _read_flows(paths: DatasetPaths, vid: str, count: int) -> np.ndarray:
    import cv2

    out = []
    for i in range(1, count + 1):
        x = cv2.imread(str(paths.flow_dir(vid) / f"flow_x_{i:05d}.jpg"), cv2.IMREAD_GRAYSCALE)
        y = cv2.imread(str(paths.flow_dir(vid) / f"flow_y_{i:05d}.jpg"), cv2.IMREAD_GRAYSCALE)
        out.append(np.stack([dequantize_flow(x), dequantize_flow(y)], axis=-1))
    return np.stack(out)  # (T - 1, H, W, 2)


def test_cli_impl_torch_writes_the_opencv_flow_and_records_the_implementation(tiny_root, tmp_path):
    ids = copy_videos(tiny_root, tmp_path, every=25)
    run_extract(ExtractConfig(root=tmp_path, dataset="synthetic"), progress=False)
    base = ["tvl1", "--root", str(tmp_path), "--dataset", "synthetic"]
    opencv = CliRunner().invoke(main, base)
    assert opencv.exit_code == 0, opencv.output
    paths = DatasetPaths(tmp_path, "synthetic")
    counts = {vid: sum(1 for p in paths.flow_dir(vid).iterdir()) // 2 for vid in ids}
    reference = {vid: _read_flows(paths, vid, n) for vid, n in counts.items()}
    torch_args = [*base, "--impl", "torch", "--no-compile", "--batch", "3"]
    refused = CliRunner().invoke(main, torch_args)
    assert refused.exit_code == 1 and "impl: 'opencv' -> 'torch'" in refused.output and "--force" in refused.output
    done = CliRunner().invoke(main, [*torch_args, "--force"])
    assert done.exit_code == 0 and f"{len(ids)} done, 0 failed" in done.output, done.output
    recorded = json.loads((paths.tvl1 / "tvl1_config.json").read_text())
    assert recorded["impl"] == "torch" and recorded["torch_version"] == torch.__version__
    errors = {"opencv": [], "torch": []}
    for vid, n in counts.items():
        gt = np.load(paths.flow_gt_npz(vid))
        truth, valid = gt["flow"].astype(np.float32), ~gt["occluded"]  # (T-1, H, W, 2), (T-1, H, W)
        for name, flows in (("opencv", reference[vid]), ("torch", _read_flows(paths, vid, n))):
            errors[name].append(np.linalg.norm(flows - truth, axis=-1)[valid].mean())
    # Same files, same bound-20 JPEG coding; the JPEG error of two slightly different flow images differs,
    # so the decoded flows are compared through their error against the exact flow.
    assert np.mean(errors["torch"]) <= 1.05 * np.mean(errors["opencv"]) + 0.02, errors
    first_file = paths.flow_dir(ids[0]) / "flow_x_00001.jpg"
    stamp = first_file.stat().st_mtime_ns
    assert CliRunner().invoke(main, torch_args).exit_code == 0
    assert first_file.stat().st_mtime_ns == stamp  # resumed: finished videos are not redone


def test_settings_recorded_before_the_implementation_key_count_as_opencv(tmp_path):
    from pipeline.storage.resume import record_settings

    path = tmp_path / "tvl1_config.json"
    path.write_text(json.dumps({"bound": 20.0}))
    record_settings(path, {"bound": 20.0, "impl": "opencv"}, force=False, assumed={"impl": "opencv"})
    path.write_text(json.dumps({"bound": 20.0}))
    with pytest.raises(ValueError, match="impl: 'opencv' -> 'torch'"):
        record_settings(path, {"bound": 20.0, "impl": "torch"}, force=False, assumed={"impl": "opencv"})


def test_auto_batch_by_frame_size_and_device():
    assert auto_batch(256, 340, "cpu") == 1  # measured fastest alone on a CPU (ufsn-bench perf tvl1)
    assert auto_batch(64, 64, "cpu") == 32
    assert auto_batch(256, 340, "cuda") == 96
    assert auto_batch(4096, 4096, "cpu") == 1
