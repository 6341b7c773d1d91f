"""ufsn-data extract: frames equal decoded frames, real clip counts, corrupt inputs, resume, CLI."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner
from extract_helpers import copy_videos, moving_frames, tree_digest, write_avi

from pipeline.cli import main
from pipeline.steps.extract import ExtractConfig, run_extract
from pipeline.storage.claim import CONCURRENT_NOTE
from pipeline.storage.manifest import read_manifest, write_manifest
from pipeline.storage.paths import DatasetPaths

REAL_COUNTS = {  # decoded counts from ../shared/realdata/README.md (FFmpeg, every frame decoded)
    "v_ApplyEyeMakeup_g01_c01": 164,
    "v_BaseballPitch_g01_c01": 107,
    "v_Basketball_g01_c01": 141,
    "April_09_brush_hair_u_nm_np1_ba_goo_0": 408,
    "Increase_stride_length_by_running_stairs__working_step_over_action_speed_development_climb_stairs_"
    "f_cm_np1_le_med_1": 74,
}


def _opencv_frames(video):
    import cv2

    cap = cv2.VideoCapture(str(video))
    frames = []
    while (item := cap.read())[0]:
        frames.append(item[1])  # BGR
    return frames


def test_frames_equal_decoded_frames(tiny_root, tmp_path):
    import cv2

    ids = copy_videos(tiny_root, tmp_path, every=25)
    summary = run_extract(ExtractConfig(root=tmp_path, dataset="synthetic"), progress=False)
    assert (summary.done, summary.failed) == (len(ids), 0)
    paths = DatasetPaths(tmp_path, "synthetic")
    for vid in ids:
        video = next(paths.videos.glob(f"*/{vid}.avi"))
        reference = _opencv_frames(video)  # independent decoder: OpenCV's FFmpeg backend
        files = sorted(paths.frame_dir(vid).iterdir())
        assert [f.name for f in files] == [f"img_{i:05d}.jpg" for i in range(1, len(reference) + 1)]
        for file, ref in zip(files, reference, strict=True):
            img = cv2.imread(str(file))
            assert img.shape == ref.shape == (64, 64, 3)
            # Tolerance = the error of re-encoding the reference itself at q95 (4:2:0 chroma on a busy texture).
            ok, data = cv2.imencode(".jpg", ref, [cv2.IMWRITE_JPEG_QUALITY, 95])
            jpeg_error = np.abs(cv2.imdecode(data, cv2.IMREAD_COLOR).astype(int) - ref)
            diff = np.abs(img.astype(int) - ref)
            assert diff.mean() <= jpeg_error.mean() + 0.25 and diff.max() <= jpeg_error.max() + 8


def test_size_short_side_and_fps(tmp_path):
    import cv2

    write_avi(tmp_path / "d" / "videos" / "A" / "v_a.avi", moving_frames(10, 96, 64), fps=20.0)
    run_extract(ExtractConfig(root=tmp_path, dataset="d", size=(50, 40), fps=10.0), progress=False)
    files = sorted((tmp_path / "d" / "frames" / "v_a").iterdir())
    assert len(files) == 5 and cv2.imread(str(files[0])).shape == (40, 50, 3)
    run_extract(
        ExtractConfig(root=tmp_path, dataset="e", videos=tmp_path / "d" / "videos", short_side=32), progress=False
    )
    assert cv2.imread(str(tmp_path / "e" / "frames" / "v_a" / "img_00010.jpg")).shape == (32, 48, 3)


def test_settings_change_needs_force(tmp_path):
    write_avi(tmp_path / "d" / "videos" / "A" / "v_a.avi", moving_frames(4))
    run_extract(ExtractConfig(root=tmp_path, dataset="d"), progress=False)
    with pytest.raises(ValueError, match="quality: 95 -> 80"):
        run_extract(ExtractConfig(root=tmp_path, dataset="d", quality=80), progress=False)
    assert run_extract(ExtractConfig(root=tmp_path, dataset="d", quality=80, force=True), progress=False).done == 1


def test_real_clips_true_decoded_counts(realdata, tmp_path):
    for name, cls in (("ucf101", "Ucf"), ("hmdb51", "Hmdb")):
        dest = tmp_path / name / "videos" / cls
        dest.mkdir(parents=True)
        for video in (realdata / f"{name}_videos").glob("*.avi"):
            shutil.copy(video, dest / video.name)
    basketball = (tmp_path / "ucf101" / "videos" / "Ucf" / "v_Basketball_g01_c01.avi").read_bytes()
    (tmp_path / "ucf101" / "videos" / "Ucf" / "v_Cut_g01_c01.avi").write_bytes(basketball[: len(basketball) // 2])
    ucf = run_extract(ExtractConfig(root=tmp_path, dataset="ucf101", workers=2), progress=False)
    hmdb = run_extract(ExtractConfig(root=tmp_path, dataset="hmdb51", native=True), progress=False)
    assert (ucf.done, ucf.failed, hmdb.done, hmdb.failed) == (3, 1, 2, 0)
    rows = {**read_manifest(ucf.manifest), **read_manifest(hmdb.manifest)}
    for vid, count in REAL_COUNTS.items():
        assert rows[vid].frames == count, vid
        dataset = "ucf101" if vid.startswith("v_") else "hmdb51"
        assert len(list((tmp_path / dataset / "frames" / vid).iterdir())) == count
    assert rows["v_Cut_g01_c01"].status == "failed"
    assert rows["v_Cut_g01_c01"].error.startswith("truncated: header 141, decoded 73")
    assert not (tmp_path / "ucf101" / "frames" / "v_Cut_g01_c01").exists()
    import cv2

    assert cv2.imread(str(tmp_path / "ucf101" / "frames" / "v_Basketball_g01_c01" / "img_00001.jpg")).shape == (
        256,
        340,
        3,
    )


def test_resume_skips_done_and_redoes_partial(tmp_path):
    for i in range(3):
        write_avi(tmp_path / "d" / "videos" / "A" / f"v_{i}.avi", moving_frames(6, seed=i))
    first = run_extract(ExtractConfig(root=tmp_path, dataset="d"), progress=False)
    frames = tmp_path / "d" / "frames"
    reference = tree_digest(frames)
    (frames / "v_1" / "img_00006.jpg").unlink()  # a partial folder (e.g. edited by hand)
    (frames / ".v_2.tmp-999999999-x").mkdir()  # a temporary of a dead run
    done_mtime = (frames / "v_0" / "img_00001.jpg").stat().st_mtime_ns
    second = run_extract(ExtractConfig(root=tmp_path, dataset="d"), progress=False)
    assert first.done == second.done == 3
    assert tree_digest(frames) == reference
    assert (frames / "v_0" / "img_00001.jpg").stat().st_mtime_ns == done_mtime  # skipped, not rewritten
    run_extract(ExtractConfig(root=tmp_path, dataset="d", force=True), progress=False)
    assert (frames / "v_0" / "img_00001.jpg").stat().st_mtime_ns != done_mtime


def test_a_complete_folder_without_a_row_is_taken_as_done_and_a_failed_row_redone(tmp_path):
    # A run killed (or still running) between renaming a folder into place and flushing its manifest
    # leaves a complete folder with no row: the next run takes it as done instead of redoing it.
    for i in range(3):
        write_avi(tmp_path / "d" / "videos" / "A" / f"v_{i}.avi", moving_frames(6, seed=i))
    run_extract(ExtractConfig(root=tmp_path, dataset="d"), progress=False)
    manifest = tmp_path / "d" / "manifest" / "extract.csv"
    rows = read_manifest(manifest)
    failed = replace(rows["v_1"], status="failed", error="cannot decode")
    write_manifest(manifest, {"v_2": rows["v_2"], "v_1": failed})  # v_0: no row; v_1: a failed row
    frames = tmp_path / "d" / "frames"
    stamps = {v: (frames / v / "img_00001.jpg").stat().st_mtime_ns for v in ("v_0", "v_1")}
    second = run_extract(ExtractConfig(root=tmp_path, dataset="d"), progress=False)
    assert (second.done, second.by_others) == (3, 1)
    after = read_manifest(manifest)
    assert after["v_0"].frames == 6 and after["v_0"].error == CONCURRENT_NOTE
    assert (frames / "v_0" / "img_00001.jpg").stat().st_mtime_ns == stamps["v_0"]  # kept
    assert after["v_1"].error == "" and (frames / "v_1" / "img_00001.jpg").stat().st_mtime_ns != stamps["v_1"]


def test_cli_corrupt_inputs_fail_rows_and_exit_1(tmp_path):
    videos = tmp_path / "d" / "videos" / "A"
    write_avi(videos / "v_good.avi", moving_frames(8))
    long = write_avi(tmp_path / "long.avi", moving_frames(40)).read_bytes()
    (videos / "v_truncated.avi").write_bytes(long[: len(long) // 2])
    (videos / "v_random.avi").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (videos / "v_empty.avi").write_bytes(b"")
    result = CliRunner().invoke(main, ["extract", "--root", str(tmp_path), "--dataset", "d", "--workers", "2"])
    assert result.exit_code == 1, result.output
    manifest = tmp_path / "d" / "manifest" / "extract.csv"
    assert "1 done, 3 failed, 0 skipped" in result.output and f"see {manifest}" in result.output
    rows = read_manifest(manifest)
    assert rows["v_good"].status == "done" and rows["v_good"].frames == 8
    assert rows["v_truncated"].error.startswith("truncated: header 40, decoded ")
    assert "cannot decode" in rows["v_random"].error and "v_random.avi" in rows["v_random"].error
    assert rows["v_empty"].error.startswith("empty file (0 bytes)")
    assert sorted(p.name for p in (tmp_path / "d" / "frames").iterdir()) == ["extract_config.json", "v_good"]
