"""Hostile inputs (issue 8, Deliver 2): each case gets a precise message naming the file and leaves done work intact.

Covered elsewhere, not repeated here:
- zero-byte, random-byte and truncated videos:
  tests/pipeline/test_extract.py::test_cli_corrupt_inputs_fail_rows_and_exit_1
- a 1-frame video (extract keeps it, tvl1 skips it with the reason) and a frame folder missing one
  frame for tvl1: tests/pipeline/test_tvl1.py::test_missing_frame_and_one_frame_video
- a shard with a flipped byte and a truncated shard under ``verify``:
  tests/pipeline/test_shards.py::test_verify_catches_flipped_byte_and_truncation
Split files are in tests/pipeline/test_hostile_splits.py.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from extract_helpers import moving_frames, tree_digest, write_avi
from framedata import make_frame_folders

from pipeline.cli import main
from pipeline.readers.shard import ShardReader, read_index
from pipeline.steps.check import CheckConfig, run_check
from pipeline.storage.manifest import read_manifest
from pipeline.storage.paths import DatasetPaths, frame_name

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def _over_reporting_avi(path: Path, frames: int, header: int) -> Path:
    """An MJPG AVI with ``frames`` frames whose avih and strh headers claim ``header``."""
    data = bytearray(write_avi(path, moving_frames(frames, 48, 32)).read_bytes())
    struct.pack_into("<I", data, data.index(b"avih") + 8 + 16, header)  # dwTotalFrames
    struct.pack_into("<I", data, data.index(b"strh") + 8 + 32, header)  # dwLength
    path.write_bytes(bytes(data))
    return path


def test_header_over_reporting_fails_unless_allowed_and_keeps_done_work(tmp_path):
    videos = tmp_path / "d" / "videos" / "A"
    write_avi(videos / "v_good.avi", moving_frames(5, 48, 32))
    assert _run("extract", "--root", str(tmp_path), "--dataset", "d").exit_code == 0
    done = tree_digest(tmp_path / "d" / "frames" / "v_good")
    bad = _over_reporting_avi(videos / "v_liar.avi", frames=6, header=12)
    result = _run("extract", "--root", str(tmp_path), "--dataset", "d")
    assert result.exit_code == 1 and "1 done, 1 failed, 0 skipped" in result.output
    rows = read_manifest(tmp_path / "d" / "manifest" / "extract.csv")
    assert rows["v_liar"].error == f"truncated: header 12, decoded 6 ({bad})"
    assert not (tmp_path / "d" / "frames" / "v_liar").exists()
    assert tree_digest(tmp_path / "d" / "frames" / "v_good") == done and rows["v_good"].status == "done"
    result = _run("extract", "--root", str(tmp_path), "--dataset", "d", "--allow-truncated", "--force")
    assert result.exit_code == 0, result.output
    rows = read_manifest(tmp_path / "d" / "manifest" / "extract.csv")
    assert (rows["v_liar"].status, rows["v_liar"].frames) == ("done", 6)


def test_names_with_spaces_work_end_to_end(tmp_path):
    """Spaces in class folders and file names: extract, tvl1, shards and verify all succeed."""
    write_avi(tmp_path / "d" / "videos" / "My Class" / "v_a b.avi", moving_frames(3, 48, 32))
    write_avi(tmp_path / "d" / "videos" / "My Class" / "v_c.avi", moving_frames(3, 48, 32))
    for step in ("extract", "tvl1", "shards", "verify"):
        result = _run(step, "--root", str(tmp_path), "--dataset", "d")
        assert result.exit_code == 0, (step, result.output)
    rows = {row.video_id: row for row in read_index(tmp_path / "d" / "shards" / "index.csv")}
    assert (rows["v_a b"].cls, rows["v_a b"].frames, rows["v_a b"].flow_pairs) == ("My Class", 3, 2)


def test_name_not_utf8_is_refused_naming_the_path(tmp_path):
    """Decision: a file name that is not valid UTF-8 is a clear error naming the path, before any work.

    Handled end to end it cannot be: OpenCV's VideoCapture crashes (SIGSEGV) on such a path, and
    the manifest, splits and index are UTF-8 text. ``check`` reports it without decoding it.
    """
    videos = tmp_path / "ucf101" / "videos" / "Archery"
    write_avi(videos / "v_Archery_g01_c01.avi", moving_frames(2, 48, 32))
    shutil.copy(videos / "v_Archery_g01_c01.avi", os.fsencode(videos) + b"/v_Archery_g01_c\xff.avi")
    shown = f"{videos}/v_Archery_g01_c\\xff.avi"
    result = _run("extract", "--root", str(tmp_path), "--dataset", "ucf101")
    assert result.exit_code == 1 and f"{shown}: file name is not valid UTF-8; rename the file" in result.output
    assert not (tmp_path / "ucf101" / "frames").exists()  # refused before anything was written
    result = _run("splits", "--root", str(tmp_path), "--dataset", "ucf101")
    assert result.exit_code == 1 and f"{shown}: file name is not valid UTF-8" in result.output
    report = run_check(CheckConfig(root=tmp_path, dataset="ucf101", workers=1))
    assert [p.path.name for p in report.problems if p.kind == "bad-name"] == [os.fsdecode(b"v_Archery_g01_c\xff.avi")]
    assert report.decoded == 1


@pytest.fixture(scope="module")
def packed(tiny_root, tmp_path_factory) -> DatasetPaths:
    """12 videos' frames and flow, packed into a few shards (read-only: tests copy it)."""
    paths = make_frame_folders(tiny_root, tmp_path_factory.mktemp("hostile_packed"))
    result = _run("shards", "--root", str(paths.root), "--dataset", "synthetic", "--shard-size", "40KB")
    assert result.exit_code == 0, result.output
    return paths


def _copy(paths: DatasetPaths, tmp_path: Path) -> DatasetPaths:
    shutil.copytree(paths.base, tmp_path / "synthetic")
    return DatasetPaths(tmp_path, "synthetic")


def test_index_naming_a_missing_shard(packed, tmp_path):
    paths = _copy(packed, tmp_path)
    rows = read_index(paths.shards / "index.csv")
    gone = rows[0].shard
    (paths.shards / gone).unlink()
    result = _run("verify", "--root", str(paths.root), "--dataset", "synthetic")
    assert result.exit_code == 1
    for row in rows:
        assert (f"bad: {gone} {row.video_id}: shard file missing" in result.output) == (row.shard == gone)
    reader = ShardReader(paths.shards)
    with pytest.raises(OSError, match=str(paths.shards / gone)):
        reader.read_rgb(rows[0].video_id, 0, 1)
    assert len(reader.read_rgb(rows[-1].video_id, 0, 2)) == 2  # the other shards still read


def test_truncated_shard_fails_on_open_naming_it(packed, tmp_path):
    paths = _copy(packed, tmp_path)
    rows = read_index(paths.shards / "index.csv")
    victim = paths.shards / rows[0].shard
    os.truncate(victim, victim.stat().st_size // 2)
    with pytest.raises(OSError, match=str(victim)):
        ShardReader(paths.shards).read_rgb(rows[0].video_id, 0, 1)


def test_frame_folder_missing_one_frame_fails_shards_row(packed, tmp_path):
    paths = _copy(packed, tmp_path)
    vid = sorted(p.name for p in paths.frames.iterdir())[1]
    (paths.frame_dir(vid) / frame_name(4)).unlink()
    before = tree_digest(paths.frames)
    result = _run("shards", "--root", str(paths.root), "--dataset", "synthetic", "--force", "--shard-size", "1MiB")
    assert result.exit_code == 1 and "11 done, 1 failed" in result.output
    row = read_manifest(paths.manifest / "shards.csv")[vid]
    assert row.status == "failed" and "img_00004.jpg" in row.error and vid in row.error
    assert vid not in {r.video_id for r in read_index(paths.shards / "index.csv")}
    assert tree_digest(paths.frames) == before  # inputs untouched


def test_output_folder_that_cannot_be_written(tmp_path):
    """Tests run as root, so chmod cannot block writes; a regular file where a folder must go does."""
    write_avi(tmp_path / "src" / "A" / "v_a.avi", moving_frames(2, 48, 32))
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = _run(
        "extract", "--root", str(tmp_path / "blocker" / "data"), "--dataset", "d", "--videos", str(tmp_path / "src")
    )
    assert result.exit_code != 0 and not isinstance(result.exception, OSError), result.output
    assert f"{tmp_path / 'blocker' / 'data'}" in result.output and "Not a directory" in result.output
    (tmp_path / "root" / "d").mkdir(parents=True)
    (tmp_path / "root" / "d" / "frames").write_text("in the way")
    result = _run("extract", "--root", str(tmp_path / "root"), "--dataset", "d", "--videos", str(tmp_path / "src"))
    assert result.exit_code != 0 and not isinstance(result.exception, OSError), result.output
    assert f"{tmp_path / 'root' / 'd' / 'frames'}" in result.output and "File exists" in result.output
    assert (tmp_path / "root" / "d" / "frames").read_text() == "in the way"


FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so a write past the limit raises OSError (EFBIG)
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from pipeline.cli import main
    main(sys.argv[2:])
    """
)


def test_full_disk_fails_the_video_and_keeps_finished_work(tmp_path):
    """A per-file size limit (RLIMIT_FSIZE) stands in for a full disk: writes fail with EFBIG."""
    videos = tmp_path / "d" / "videos" / "A"
    write_avi(videos / "v_small.avi", moving_frames(3, 48, 32))
    args = ["extract", "--root", str(tmp_path), "--dataset", "d", "--workers", "1"]
    assert _run(*args).exit_code == 0
    done = tree_digest(tmp_path / "d" / "frames")
    noise = np.random.default_rng(0).integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)  # JPEGs of ~150 KB
    write_avi(videos / "v_big.avi", noise)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", FULL_DISK, "60000", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 1, proc.stderr
    assert "1 done, 1 failed, 0 skipped" in proc.stdout + proc.stderr
    row = read_manifest(tmp_path / "d" / "manifest" / "extract.csv")["v_big"]
    frames = tmp_path / "d" / "frames"
    assert row.status == "failed" and "File too large" in row.error and str(frames) in row.error
    assert tree_digest(frames) == done  # the finished video and the settings record are intact, no leftovers
