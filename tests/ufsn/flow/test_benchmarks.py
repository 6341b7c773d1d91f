"""Flow benchmark readers: pairs written here in each benchmark's layout with a known flow, read back;
KITTI's 16-bit encoding by hand; Fl-all by hand; the real KITTI and FlyingChairs pairs in ../shared."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ufsn.flow.benchmarks import (
    benchmark_pairs,
    decode_kitti_flow,
    detect_format,
    encode_kitti_flow,
)
from ufsn.flow.evaluate import ErrorSums, folder_pairs
from ufsn.flow.viz import write_flo

H, W = 24, 32


def frames(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two (H, W, 3) uint8 RGB frames with distinct content per channel, so a BGR/RGB swap shows."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8), rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def known_flow(seed: int) -> np.ndarray:
    """(H, W, 2) float32 flow with distinct u and v, in 1/64 px steps (exact in KITTI's encoding)."""
    rng = np.random.default_rng(seed + 100)
    return (rng.integers(-640, 640, (H, W, 2)) / 64.0).astype(np.float32)


def save_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])


def test_kitti_encoding_hand_worked():
    # u = (R - 2^15) / 64, v = (G - 2^15) / 64, valid = B > 0; OpenCV's channel order is B, G, R.
    png = np.array([[[1, 32768 + 64, 32768 - 128], [0, 40000, 40000]]], np.uint16)  # (1, 2, 3) B, G, R
    flow, valid = decode_kitti_flow(png)
    assert flow[0, 0].tolist() == [-2.0, 1.0] and valid.tolist() == [[True, False]]
    assert flow[0, 1].tolist() == [0.0, 0.0]  # invalid pixels carry no flow
    again = encode_kitti_flow(flow, valid)
    assert again[0, 0].tolist() == png[0, 0].tolist()
    with pytest.raises(ValueError, match="16-bit with 3 channels"):
        decode_kitti_flow(png.astype(np.uint8))


def test_middlebury_and_chairs_read_back(tmp_path):
    img1, img2 = frames(0)
    flow = known_flow(0)
    flow[3, 4] = 1e10  # unknown
    mb = tmp_path / "mb"
    save_rgb(mb / "frame10.png", img1)
    save_rgb(mb / "frame11.png", img2)
    write_flo(mb / "flow10.flo", flow)
    chairs = tmp_path / "chairs"
    save_rgb(chairs / "00007_img1.ppm", img1)
    save_rgb(chairs / "00007_img2.ppm", img2)
    write_flo(chairs / "00007_flow.flo", flow)
    save_rgb(chairs / "0000003-img0.ppm", img2)  # FlowNet 2.0's example names
    save_rgb(chairs / "0000003-img1.ppm", img1)
    write_flo(chairs / "0000003-gt.flo", -known_flow(0))
    assert detect_format(mb) == "middlebury" and detect_format(chairs) == "chairs"
    (pair,) = benchmark_pairs(mb)[1]
    assert np.array_equal(pair.img1, img1) and np.array_equal(pair.img2, img2)
    assert not pair.valid[3, 4] and pair.valid.sum() == H * W - 1 and pair.noc is None
    assert np.array_equal(pair.flow[pair.valid], flow[pair.valid]) and pair.flow[3, 4].tolist() == [0.0, 0.0]
    release, flownet2 = benchmark_pairs(chairs)[1]
    assert release.name == "chairs/00007" and np.array_equal(release.img1, img1)
    assert flownet2.name == "chairs/0000003" and np.array_equal(flownet2.img1, img2)
    assert np.array_equal(flownet2.flow, -known_flow(0))


def test_sintel_passes_masks_and_pair_order(tmp_path):
    base = tmp_path / "MPI-Sintel" / "training"
    scene_frames = [frames(s)[0] for s in range(3)]  # frame_0001 .. frame_0003
    for p, offset in (("clean", 0), ("final", 1)):
        for i, rgb in enumerate(scene_frames, start=1):
            save_rgb(
                base / p / "alley_1" / f"frame_{i:04d}.png", (rgb.astype(int) + offset).clip(0, 255).astype(np.uint8)
            )
    occluded = np.zeros((H, W), np.uint8)
    occluded[:5] = 255
    invalid = np.zeros((H, W), np.uint8)
    invalid[:, :2] = 255
    for i in (1, 2):
        write_flo(base / "flow" / "alley_1" / f"frame_{i:04d}.flo", known_flow(i))
        for folder, mask in (("occlusions", occluded), ("invalid", invalid)):
            (base / folder / "alley_1").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(base / folder / "alley_1" / f"frame_{i:04d}.png"), mask)
    root = tmp_path / "MPI-Sintel"
    assert detect_format(root) == "sintel"
    first, second = benchmark_pairs(root, "sintel", "clean")[1]
    assert second.name == "sintel/clean/alley_1/frame_0002"
    assert np.array_equal(second.img1, scene_frames[1]) and np.array_equal(second.img2, scene_frames[2])
    assert second.valid.sum() == H * (W - 2) and not second.valid[:, :2].any()
    assert second.noc.sum() == (H - 5) * (W - 2) and not second.noc[:5].any()
    assert np.array_equal(second.flow[second.valid], known_flow(2)[second.valid])
    final = benchmark_pairs(root, "auto", "final")[1][0]
    assert np.array_equal(final.img1, (scene_frames[0].astype(int) + 1).clip(0, 255).astype(np.uint8))


def test_kitti_2015_layout_occ_and_noc(tmp_path):
    img1, img2 = frames(5)
    flow = known_flow(5)
    valid = np.zeros((H, W), bool)
    valid[::2] = True  # sparse, as KITTI's lidar ground truth
    noc = valid.copy()
    noc[:, :10] = False  # the first 10 columns occluded
    save_rgb(tmp_path / "image_2" / "000042_10.png", img1)
    save_rgb(tmp_path / "image_2" / "000042_11.png", img2)
    for folder, mask in (("flow_occ", valid), ("flow_noc", noc)):
        (tmp_path / folder).mkdir()
        assert cv2.imwrite(str(tmp_path / folder / "000042_10.png"), encode_kitti_flow(flow, mask))
    assert detect_format(tmp_path) == "kitti"
    (pair,) = benchmark_pairs(tmp_path)[1]
    assert pair.name == "kitti/000042" and np.array_equal(pair.img2, img2)
    assert np.array_equal(pair.valid, valid) and np.array_equal(pair.noc, noc)
    assert np.array_equal(pair.flow[valid], flow[valid]) and not pair.flow[~valid].any()
    # Scores: a prediction off by 4 px on the occluded valid pixels, exact elsewhere.
    pred = flow.copy()
    pred[valid & ~noc, 0] += 4.0
    sums = ErrorSums()
    sums.add(pred, pair.flow, pair.valid, pair.noc)
    s = sums.summary()
    occluded = (valid & ~noc).sum()
    assert s.epe_noc == 0.0 and s.epe_occ == pytest.approx(4.0)
    assert s.epe == pytest.approx(4.0 * occluded / valid.sum())
    big = np.linalg.norm(flow, axis=-1) * 0.05 < 4.0  # where 4 px is also above 5% of the true motion
    assert s.fl_all == pytest.approx((valid & ~noc & big).sum() / valid.sum())


def test_fl_all_hand_worked():
    gt = np.array([[[10, 0], [100, 0], [10, 0], [0, 0]]], np.float32)
    pred = gt + np.array([[[4, 0], [4, 0], [2.5, 0], [3.5, 0]]], np.float32)
    # 4 > 3 and 4 > 0.5: out; 4 > 3 but 4 < 5: in; 2.5 < 3: in; 3.5 > 3 and 3.5 > 0: out.
    sums = ErrorSums()
    sums.add(pred, gt, np.ones((1, 4), bool), None)
    assert sums.summary().fl_all == pytest.approx(2 / 4) and sums.summary().epe_occ is None


def test_unknown_layout_names_what_it_looked_for(tmp_path):
    with pytest.raises(ValueError, match="no known flow benchmark layout .* give --format"):
        detect_format(tmp_path)
    with pytest.raises(ValueError, match="format must be one of auto, middlebury"):
        benchmark_pairs(tmp_path, "flyingthings")  # type: ignore[arg-type]


def test_real_kitti_and_chairs_pairs(realdata):
    kitti = realdata / "flow_gt" / "kitti_example"
    (pair,) = benchmark_pairs(kitti)[1]
    assert pair.img1.shape == (375, 1242, 3) and pair.flow.shape == (375, 1242, 2)
    png = cv2.imread(str(kitti / "flow_gt.png"), cv2.IMREAD_UNCHANGED)  # independent decode, per the devkit
    valid = png[..., 0] > 0
    u = (png[..., 2].astype(np.float64) - 32768) / 64
    assert pair.valid.mean() == pytest.approx(0.162, abs=0.001)  # the README: 16.2% of pixels
    assert np.array_equal(pair.valid, valid) and np.allclose(pair.flow[valid, 0], u[valid])
    chairs = folder_pairs([realdata / "flow_gt" / "flyingchairs_flownet2"])
    assert len(chairs.img1) == 2 and chairs.img1[0].shape == (384, 512, 3) and chairs.noc is None
    assert all(v.all() for v in chairs.valid)  # FlyingChairs' ground truth is dense
