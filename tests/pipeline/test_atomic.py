"""Atomic writes and stale temporaries: zombie, live and dead owners, and hosts without /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.storage import atomic
from pipeline.storage.atomic import TMP_MARK, atomic_dir, remove_stale_temporaries


def _owned_by(folder: Path, name: str, pid: int) -> Path:
    tmp = folder / f".{name}{TMP_MARK}{pid}-abc123"
    tmp.mkdir()
    (tmp / "img_00001.jpg").write_bytes(b"partial")
    return tmp


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid no longer exists (reuse within the test is vanishingly unlikely)
    return child.pid


def _wait_for_state(pid: int, state: str) -> None:
    for _ in range(200):
        if atomic._process_state(pid) == state:
            return
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} never reached state {state}")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_zombie_owned_removed_live_kept_dead_removed(tmp_path):
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _wait_for_state(zombie.pid, "Z")  # exited, not yet waited for: what a killed joblib worker looks like
        os.kill(zombie.pid, 0)  # the signal test alone calls it alive
        by_zombie = _owned_by(tmp_path, "v_a", zombie.pid)
        by_live = _owned_by(tmp_path, "v_b", live.pid)
        by_dead = _owned_by(tmp_path, "v_c", _dead_pid())
        mine = _owned_by(tmp_path, "v_d", os.getpid())
        done = tmp_path / "v_e"
        done.mkdir()
        assert remove_stale_temporaries(tmp_path) == 2
        assert not by_zombie.exists() and not by_dead.exists()
        assert by_live.exists() and mine.exists() and done.exists()
    finally:
        live.kill()
        live.wait()
        zombie.wait()


def test_without_proc_falls_back_to_the_signal_test(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_process_state", lambda pid: None)  # as on a host without /proc
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        by_live = _owned_by(tmp_path, "v_b", live.pid)
        by_dead = _owned_by(tmp_path, "v_c", _dead_pid())
        assert remove_stale_temporaries(tmp_path) == 1
        assert by_live.exists() and not by_dead.exists()
    finally:
        live.kill()
        live.wait()


def test_process_state_of_self_and_of_a_gone_pid(tmp_path):
    assert atomic._process_state(os.getpid()) in ("R", "S", None)
    assert atomic._process_state(_dead_pid()) is None


def test_atomic_dir_leaves_nothing_on_error(tmp_path):
    final = tmp_path / "v_a"
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "x").write_bytes(b"1")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
