"""The synthetic dataset: exact flow, determinism, naming, decodability, no RGB shortcut."""

from __future__ import annotations

import hashlib
import re

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.synth.dataset import class_table, preset, render_clip, run_synth, video_id
from pipeline.synth.scene import ObjectTrack, Scene, pair_flow, render

NAME = re.compile(r"^v_([A-Za-z]+)_g(\d\d)_c(\d\d)$")


def _warp_mae(frame0, frame1, flow, valid):
    """Mean |frame0 - frame1(x + flow)| over ``valid``, frame1 sampled bilinearly by OpenCV."""
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    warped = cv2.remap(frame1.astype(np.float32), xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR)
    return np.abs(warped - frame0.astype(np.float32)).mean(-1)[valid].mean()


def test_ground_truth_flow_reproduces_frames():
    cfg = preset("demo")
    warped, zero = [], []
    for cls in class_table(cfg.families, cfg.motions):
        for group in (1, 2):
            clip = render_clip(cfg, cls, group, 1)
            for t in range(cfg.frames - 1):
                valid = ~clip.occluded[t]
                warped.append(_warp_mae(clip.frames[t], clip.frames[t + 1], clip.flow[t], valid))
                zero.append(_warp_mae(clip.frames[t], clip.frames[t + 1], 0 * clip.flow[t], valid))
    assert np.mean(warped) < 2.0
    assert np.mean(zero) > 3 * np.mean(warped)


def _translating_scene(velocity, camera):
    obj = ObjectTrack(
        shape="square",
        texture="stripes",
        colors=np.array([[200.0, 30, 30], [30, 30, 200]]),
        tex_freq=1.0,
        tex_phase=0.0,
        detail_freq=3.0,
        detail_phase=0.0,
        radius=8.0,
        c0=np.array([24.0, 24.0]),
        velocity=np.array(velocity),
        osc_amp=np.zeros(2),
        osc_phase=0.0,
        theta0=0.3,
        omega=0.0,
        log_s0=0.0,
        log_s_rate=0.0,
    )
    return Scene(
        width=48,
        height=48,
        bg_freqs=np.array([[0.05, 0.02], [0.01, 0.07]]),
        bg_phases=np.zeros(2),
        bg_colors=np.array([[20.0, 10, 0], [0, 15, 20]]),
        bg_base=np.full(3, 120.0),
        camera_velocity=np.array(camera),
        objects=(obj,),
    )


def test_pure_translation_by_hand():
    # Object moves 3 px right and 2 px up; the world under the camera moves (1, 0.5) px, so the
    # background's image motion is (-1, -0.5).
    scene = _translating_scene([3.0, -2.0], [1.0, 0.5])
    f0, l0 = render(scene, 0)
    f1, l1 = render(scene, 1)
    flow, occluded = pair_flow(scene, 0, l0, l1)
    assert np.allclose(flow[24, 24], [3.0, -2.0])  # object centre
    assert np.allclose(flow[2, 2], [-1.0, -0.5])  # background corner
    # With integer motion the object's pixels reappear exactly 3 px right and 2 px up.
    assert np.allclose(f1[22, 27], f0[24, 24], atol=1e-9)
    assert not occluded[24, 24]
    assert occluded[0, 0]  # (-1, -0.5) leaves the image


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_identical_different_seed_differs(tmp_path, tiny_root):
    small = dict(groups=2, workers=1)
    run_synth(preset("tiny", root=tmp_path / "a", **small), progress=False)
    run_synth(preset("tiny", root=tmp_path / "b", seed=1, **small), progress=False)
    for avi in sorted((tmp_path / "a" / "synthetic").rglob("*.avi")) + sorted(
        (tmp_path / "a" / "synthetic").rglob("*.npz")
    ):
        rel = avi.relative_to(tmp_path / "a")
        assert _digest(avi) == _digest(tiny_root / rel), rel
        assert _digest(avi) != _digest(tmp_path / "b" / rel), rel


def test_resume_rewrites_only_missing(tmp_path):
    cfg = preset("tiny", root=tmp_path, groups=2)
    run_synth(cfg, progress=False)
    videos = sorted((tmp_path / "synthetic" / "videos").rglob("*.avi"))
    victim, kept = videos[0], videos[1]
    before = _digest(victim)
    mtime = kept.stat().st_mtime_ns
    victim.unlink()
    run_synth(cfg, progress=False)
    assert _digest(victim) == before
    assert kept.stat().st_mtime_ns == mtime


def test_names_and_groups(tiny_root):
    base = tiny_root / "synthetic"
    classes = [line.split(",")[1] for line in (base / "classes.csv").read_text().splitlines()[1:]]
    assert len(classes) == 4
    for name in classes:
        ids = sorted(p.stem for p in (base / "videos" / name).glob("*.avi"))
        assert ids == [video_id(name, g, 1) for g in range(1, 26)]
        for vid in ids:
            match = NAME.match(vid)
            assert match and match.group(1) == name
            assert (base / "flow_gt" / f"{vid}.npz").exists()


def test_decord_reads_every_video(tiny_root):
    import decord

    videos = sorted((tiny_root / "synthetic" / "videos").rglob("*.avi"))
    assert len(videos) == 100
    for path in videos:
        reader = decord.VideoReader(str(path))
        assert len(reader) == 8, path
        assert reader[7].shape == (64, 64, 3)
        with np.load(tiny_root / "synthetic" / "flow_gt" / f"{path.stem}.npz") as gt:
            assert gt["flow"].shape == (7, 64, 64, 2) and gt["flow"].dtype == np.float16
            assert gt["occluded"].shape == (7, 64, 64) and gt["occluded"].dtype == bool


def _colour_histogram(small):
    """Joint 4x4x4 RGB histogram: position-free appearance features."""
    return 10.0 * cv2.calcHist([small], [0, 1, 2], None, [4, 4, 4], [0, 256] * 3).ravel() / small[..., 0].size


def test_rgb_alone_cannot_separate_motions():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict

    cfg = preset("tiny", clips=3)
    classes = class_table(cfg.families, cfg.motions)
    hist, pixels, fam, motion, groups = [], [], [], [], []
    for cls in classes:
        for g in range(1, cfg.groups + 1):
            for c in range(1, cfg.clips + 1):
                frames = render_clip(cfg, cls, g, c).frames
                t = (g * 7 + c) % cfg.frames  # one frame per clip, any time index
                small = cv2.resize(frames[t], (32, 32), interpolation=cv2.INTER_AREA)
                hist.append(_colour_histogram(small))
                pixels.append(small.ravel() / 255.0)
                fam.append(cls.index // cfg.motions)
                motion.append(cls.index % cfg.motions)
                groups.append(g)
    hist, pixels, fam, motion, groups = map(np.asarray, (hist, pixels, fam, motion, groups))
    cv = GroupKFold(n_splits=5)
    model = LogisticRegression(C=10.0, max_iter=3000)
    fam_acc = (cross_val_predict(model, hist, fam, cv=cv, groups=groups) == fam).mean()
    assert fam_acc > 0.9
    # Position-sensitive pixels plus appearance: if position, scale or orientation leaked the
    # motion, this model would find it.
    both = np.concatenate([pixels, hist], axis=1)
    for f in range(cfg.families):
        rows = fam == f
        pred = cross_val_predict(model, both[rows], motion[rows], cv=cv, groups=groups[rows])
        acc = (pred == motion[rows]).mean()
        assert abs(acc - 1 / cfg.motions) <= 0.10, (f, acc)


@pytest.mark.parametrize("bad", [["--classes", "4"], ["--size", "12"], ["--classes", "9x3"]])
def test_cli_rejects_bad_options(tmp_path, bad):
    result = CliRunner().invoke(main, ["synth", "--root", str(tmp_path), "--preset", "tiny", *bad])
    assert result.exit_code == 2, result.output


def test_cli_synth_tiny(tmp_path):
    result = CliRunner().invoke(main, ["synth", "--root", str(tmp_path), "--preset", "tiny", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "4 classes, 100 videos x 8 frames at 64x64" in result.output
    assert len(list((tmp_path / "synthetic" / "videos").rglob("*.avi"))) == 100
