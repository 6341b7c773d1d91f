"""``ufsn-data all``: stops at the first failing step with one summary; then runs all four steps.
Every data step: a failure of the data exits 1 with one line, a usage error 2."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.readers.shard import read_index
from pipeline.steps.splits import read_split


def test_all_stops_at_first_failure_then_completes(tiny_root, tmp_path):
    videos = tmp_path / "synthetic" / "videos"
    src = tiny_root / "synthetic"
    chosen = sorted(src.glob("videos/*/v_*_g0[18]_c01.avi"))[:3]
    for video in chosen:
        (videos / video.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(video, videos / video.parent.name / video.name)
    shutil.copy(src / "classes.csv", tmp_path / "synthetic" / "classes.csv")
    broken = videos / chosen[0].parent.name / f"{chosen[0].stem[:-8]}_g02_c01.avi"
    broken.write_bytes(b"not a video")
    args = ["all", "--root", str(tmp_path), "--dataset", "synthetic", "--workers", "2"]

    first = CliRunner().invoke(main, args)
    assert first.exit_code == 1, first.output
    assert "FAIL extract: 3 done, 1 failed" in first.output
    assert "skip tvl1" in first.output and "skip splits" in first.output
    assert not (tmp_path / "synthetic" / "shards").exists()

    broken.unlink()
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    for step in ("extract", "tvl1", "shards", "splits"):
        assert f"ok   {step}:" in second.output
    index = read_index(tmp_path / "synthetic" / "shards" / "index.csv")
    assert sorted(r.video_id for r in index) == sorted(v.stem for v in chosen)
    assert all(r.frames == 8 and r.flow_pairs == 7 for r in index)
    subsets = {r.video_id: r.subset for r in read_split(tmp_path / "synthetic" / "splits" / "split1.csv")}
    assert {subsets[v.stem] for v in chosen} == {"test", "train"}  # g01 tested by split 1, g08 trained
    verify = CliRunner().invoke(main, ["verify", "--root", str(tmp_path), "--dataset", "synthetic"])
    assert verify.exit_code == 0 and "0 bad" in verify.output


@pytest.mark.parametrize("step", ["extract", "tvl1", "shards", "splits", "check", "verify", "all"])
def test_data_failures_exit_1_in_every_step(tmp_path, step):
    (tmp_path / "synthetic" / "videos" / "Empty").mkdir(parents=True)  # a dataset folder with no videos
    result = CliRunner().invoke(main, [step, "--root", str(tmp_path), "--dataset", "synthetic"])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    if step != "all":  # `all` prints its summary of steps instead
        assert result.output.splitlines()[-1].startswith("Error: "), result.output


def test_usage_errors_exit_2(tmp_path):
    (tmp_path / "synthetic" / "videos").mkdir(parents=True)
    both = ["extract", "--root", str(tmp_path), "--dataset", "synthetic", "--size", "64x64", "--short-side", "32"]
    result = CliRunner().invoke(main, both)
    assert result.exit_code == 2 and "choose one of size, short_side and native" in result.output
    assert CliRunner().invoke(main, ["tvl1", "--root", str(tmp_path)]).exit_code == 2  # --dataset missing
