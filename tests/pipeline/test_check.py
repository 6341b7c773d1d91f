"""ufsn-data check: a fake UCF-101 layout from the real clips plus broken files; every problem kind named."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.steps.check import CheckConfig, probe_video, run_check

REAL = ("v_ApplyEyeMakeup_g01_c01", "v_BaseballPitch_g01_c01", "v_Basketball_g01_c01")


@pytest.fixture
def fake_ucf(realdata, tmp_path) -> Path:
    """A data root whose ucf101/videos holds the 3 real clips and 5 broken or misplaced files."""
    videos = tmp_path / "ucf101" / "videos"
    for vid in REAL:
        cls = vid.split("_")[1]
        (videos / cls).mkdir(parents=True)
        shutil.copy(realdata / "ucf101_videos" / f"{vid}.avi", videos / cls / f"{vid}.avi")
    basketball = (realdata / "ucf101_videos" / "v_Basketball_g01_c01.avi").read_bytes()
    (videos / "Archery").mkdir()
    (videos / "Archery" / "v_Archery_g01_c01.avi").write_bytes(b"")
    (videos / "Biking").mkdir()
    noise = np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    (videos / "Biking" / "v_Biking_g01_c01.avi").write_bytes(noise)
    (videos / "Bowling").mkdir()
    (videos / "Bowling" / "v_Bowling_g01_c01.avi").write_bytes(basketball[:150_000])  # 73 of 141 frames
    (videos / "Diving").mkdir()
    shutil.copy(videos / "Basketball" / "v_Basketball_g01_c01.avi", videos / "Diving" / "v_Drumming_g02_c01.avi")
    (videos / "Cats").mkdir()  # not a UCF-101 class
    (videos / "Fencing").mkdir()  # a class folder with nothing in it
    return tmp_path


def _by_kind(report) -> dict[str, dict[Path, str]]:
    kinds: dict[str, dict[Path, str]] = {}
    for problem in report.problems:
        kinds.setdefault(problem.kind, {})[problem.path] = problem.message
    return kinds


def test_every_problem_kind_is_named_with_its_path(fake_ucf, realdata):
    videos = fake_ucf / "ucf101" / "videos"
    report = run_check(CheckConfig(root=fake_ucf, dataset="ucf101", official=realdata / "ucf101_splits"))
    kinds = _by_kind(report)
    assert not report.ok
    assert (report.classes_expected, report.videos_expected) == (101, 13_320)
    assert (report.classes_found, report.videos, report.decoded) == (8, 7, 4)
    assert len(kinds["missing-class"]) == 101 - 8 and videos / "PlayingDaf" in kinds["missing-class"]
    assert kinds["unknown-class"] == {videos / "Cats": "not a class of ucf101"}
    assert kinds["empty-class"] == {videos / "Fencing": "no video files"}
    assert kinds["count"] == {videos: "7 videos, ucf101 has 13320"}
    assert kinds["misfiled"] == {
        videos / "Diving" / "v_Drumming_g02_c01.avi": "in class 'Diving' but its name says 'Drumming'"
    }
    unreadable = kinds["unreadable"]
    assert unreadable[videos / "Archery" / "v_Archery_g01_c01.avi"] == "empty file (0 bytes)"
    assert unreadable[videos / "Biking" / "v_Biking_g01_c01.avi"].startswith("cannot open")
    assert "header says 141 frames" in unreadable[videos / "Bowling" / "v_Bowling_g01_c01.avi"]
    assert len(unreadable) == 3  # the real clips and the misfiled copy decode
    # 13,320 names in the lists; all but the 7 present are missing (Drumming_g02 is named too)
    assert report.listed == 13_320 and len(kinds["listed-missing"]) == 13_320 - 7
    missing = kinds["listed-missing"][videos / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c02.avi"]
    assert missing == "named by testlist01.txt:2, not on disk"
    assert "bad-list" not in kinds


def test_malformed_official_list_is_a_problem_not_a_crash(fake_ucf, realdata, tmp_path):
    lists = tmp_path / "lists"
    shutil.copytree(realdata / "ucf101_splits", lists)
    text = (lists / "testlist02.txt").read_bytes().splitlines(keepends=True)
    (lists / "testlist02.txt").write_bytes(text[0] + b"../../etc/passwd.avi\r\n" + b"".join(text[2:]))
    report = run_check(CheckConfig(root=fake_ucf, dataset="ucf101", official=lists, decode=False))
    bad = _by_kind(report)["bad-list"]
    assert list(bad) == [lists / "testlist02.txt"] and "testlist02.txt:2: path escapes" in bad[lists / "testlist02.txt"]
    assert report.decoded == 0


def test_hmdb51_real_clips_decode_despite_header_over_reporting(realdata, tmp_path):
    videos = tmp_path / "hmdb51" / "videos"
    for clip in (realdata / "hmdb51_videos").glob("*.avi"):
        cls = "brush_hair" if "brush_hair" in clip.name else "climb_stairs"
        (videos / cls).mkdir(parents=True)
        shutil.copy(clip, videos / cls / clip.name)
    report = run_check(CheckConfig(root=tmp_path, dataset="hmdb51", official=realdata / "hmdb51_splits"))
    kinds = _by_kind(report)
    assert report.decoded == 2 and "unreadable" not in kinds  # headers say 409 and 75; 408 and 74 decode
    assert report.listed == 6_766 and len(kinds["listed-missing"]) == 6_766 - 2
    assert kinds["count"] == {videos: "2 videos, hmdb51 has 6766"}


def test_probe_of_a_missing_file():
    assert probe_video(Path("/nonexistent/v.avi")).startswith("cannot stat")


def test_missing_videos_folder(tmp_path):
    report = run_check(CheckConfig(root=tmp_path, dataset="ucf101"))
    assert [p.kind for p in report.problems] == ["missing-folder"]
    assert report.problems[0].path == tmp_path / "ucf101" / "videos"


def test_synthetic_dataset_passes(tiny_root):
    report = run_check(CheckConfig(root=tiny_root, dataset="synthetic", workers=2))
    assert report.ok, report.problems[:3]
    assert report.videos == report.decoded == 100 and report.videos_expected == 0


def test_cli_summary_and_exit_code(fake_ucf, realdata, tiny_root):
    args = ["check", "--root", str(fake_ucf), "--dataset", "ucf101", "--official", str(realdata / "ucf101_splits")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "check ucf101: 8/101 class folders, 7/13320 videos, 4 decode, 13320 names in the official lists" in (
        result.output
    )
    videos = fake_ucf / "ucf101" / "videos"
    assert f"unreadable: {videos / 'Archery' / 'v_Archery_g01_c01.avi'}: empty file (0 bytes)" in result.output
    assert "listed-missing: ... and 13293 more" in result.output  # 20 shown per kind
    assert "Error: 13413 problems (93 missing-class, 1 unknown-class, 1 empty-class, 1 count, 1 misfiled, " in (
        result.output
    )
    ok = CliRunner().invoke(main, ["check", "--root", str(tiny_root), "--dataset", "synthetic", "--no-decode"])
    assert ok.exit_code == 0, ok.output
    assert "check synthetic: 4/4 class folders, 100 videos, decode skipped" in ok.output and "ok:" in ok.output
