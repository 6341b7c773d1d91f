"""pipeline/parallel.py: failures become rows, local == dask outputs, SIGKILL then rerun == uninterrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from extract_helpers import copy_videos, moving_frames, tree_digest, write_avi

from pipeline.parallel import ParallelOptions, guarded, run_tasks
from pipeline.steps.extract import ExtractConfig, run_extract
from pipeline.steps.tvl1.step import TVL1Config, run_tvl1
from pipeline.storage.atomic import is_temporary
from pipeline.storage.manifest import ManifestRow, read_manifest


class FakeTask(NamedTuple):
    video_id: str
    fail: bool


def fake_step(task: FakeTask) -> ManifestRow:
    if task.fail:
        raise OSError(f"cannot read\nframe of {task.video_id}")
    return ManifestRow(task.video_id, "done", 3)


def test_guarded_turns_exceptions_into_failed_rows():
    import cv2

    threads = cv2.getNumThreads()
    row = guarded(fake_step, FakeTask("v_bad", True))
    assert (row.status, row.error) == ("failed", "OSError: cannot read frame of v_bad")
    assert cv2.getNumThreads() == threads  # the caller's OpenCV threads are restored


def test_guarded_matches_video_errors_by_class():
    # A VideoError's message is the manifest reason as it stands; any other exception is prefixed with its type.
    from pipeline.readers.video import VideoError

    class TruncatedVideo(VideoError):  # a subclass is a VideoError too
        pass

    class NamedLikeIt(RuntimeError):  # only the class counts, not the name
        pass

    NamedLikeIt.__name__ = "VideoError"

    def step(task):
        raise task.fail("truncated: header 9, decoded 4")

    assert guarded(step, FakeTask("v", TruncatedVideo)).error == "truncated: header 9, decoded 4"
    assert guarded(step, FakeTask("v", NamedLikeIt)).error == "VideoError: truncated: header 9, decoded 4"


@pytest.mark.parametrize("workers", [1, 2])
def test_run_tasks_goes_on_after_failures(tmp_path, workers):
    tasks = [FakeTask(f"v_{i}", i % 3 == 0) for i in range(7)]
    other = {"v_old": ManifestRow("v_old", "done", 9)}
    summary = run_tasks(
        "fake", fake_step, tasks, {}, tmp_path / "fake.csv", ParallelOptions(workers, progress=False), other
    )
    assert (summary.done, summary.failed, summary.skipped) == (4, 3, 0)
    rows = read_manifest(tmp_path / "fake.csv")
    assert set(rows) == {t.video_id for t in tasks} | {"v_old"}
    assert "failed" in summary.line() and str(tmp_path / "fake.csv") in summary.line()


def test_dask_backend_matches_local(tiny_root, tmp_path):
    from dask.distributed import LocalCluster

    for name in ("local", "dask"):
        copy_videos(tiny_root, tmp_path / name, every=20)
    run_extract(ExtractConfig(root=tmp_path / "local", dataset="synthetic", workers=2), progress=False)
    run_tvl1(TVL1Config(root=tmp_path / "local", dataset="synthetic", workers=2), progress=False)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        common = {
            "root": tmp_path / "dask",
            "dataset": "synthetic",
            "backend": "dask",
            "scheduler": cluster.scheduler_address,
        }
        assert run_extract(ExtractConfig(**common), progress=False).done == 5
        assert run_tvl1(TVL1Config(**common), progress=False).done == 5
    for folder in ("frames", "tvl1"):
        local = tree_digest(tmp_path / "local" / "synthetic" / folder)
        remote = tree_digest(tmp_path / "dask" / "synthetic" / folder)
        config = f"{'extract' if folder == 'frames' else 'tvl1'}_config.json"
        local.pop(config), remote.pop(config)  # records name the backend; the outputs must not differ
        assert local == remote and len(local) > 5


def _kill_dataset(root: Path) -> None:
    for i in range(10):
        write_avi(root / "k" / "videos" / "A" / f"v_{i:02d}.avi", moving_frames(90, 320, 240, seed=i))


def test_sigkill_then_rerun_is_byte_identical(tmp_path):
    _kill_dataset(tmp_path / "ref")
    _kill_dataset(tmp_path / "run")
    run_extract(ExtractConfig(root=tmp_path / "ref", dataset="k", workers=2), progress=False)
    frames = tmp_path / "run" / "k" / "frames"
    code = "import sys; from pipeline.cli import main; sys.exit(main())"
    command = [
        sys.executable,
        "-c",
        code,
        "extract",
        "--root",
        str(tmp_path / "run"),
        "--dataset",
        "k",
        "--workers",
        "2",
    ]
    mid_video_kills = 0
    for attempt in range(3):
        # A new session so the kill reaches the joblib workers too (one process group, killed by its id).
        proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        done_before = len([p for p in frames.iterdir() if not is_temporary(p)]) if frames.is_dir() else 0
        while time.monotonic() < deadline and proc.poll() is None:
            entries = list(frames.iterdir()) if frames.is_dir() else []
            finished = len([p for p in entries if p.is_dir() and not is_temporary(p)])
            if any(is_temporary(p) for p in entries) and finished >= done_before + attempt:
                break
            time.sleep(0.002)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.2)  # let the killed workers go
        mid_video_kills += any(is_temporary(p) and p.is_dir() for p in frames.iterdir())
    assert mid_video_kills >= 1
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not any(is_temporary(p) for p in frames.iterdir())
    reference = tree_digest(tmp_path / "ref" / "k" / "frames")
    reference.pop("extract_config.json")
    rerun = tree_digest(frames)
    rerun.pop("extract_config.json")
    assert rerun == reference
    assert all(
        row.status == "done" for row in read_manifest(tmp_path / "run" / "k" / "manifest" / "extract.csv").values()
    )
