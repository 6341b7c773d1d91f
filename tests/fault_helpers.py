"""Fault injection for tests/test_fault_injection.py: SIGKILL a command's process group at seeded points.

One *kill chain* costs about one uninterrupted run: start the command, kill it, start it again
(it resumes), kill it again, ..., then let the last start finish. Kill points are drawn from a
seeded RNG over the units of work (videos, shards, steps, epochs) of an uninterrupted run, plus a
random delay within one unit's measured duration, so they land anywhere in the work; one of them
also waits for partial output to be visible, so at least one lands mid-video / mid-epoch.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

POINTS_ENV = "UFSN_FAULT_POINTS"  # kill points per step (default 5)
DATA_CLI = [sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())"]
BENCH_CLI = [sys.executable, "-m", "bench.cli"]
POLL = 0.002  # s between looks at the output folder


def fault_points(default: int = 5) -> int:
    """Kill points per step: ``$UFSN_FAULT_POINTS`` or ``default``."""
    points = int(os.environ.get(POINTS_ENV, default))
    if points < 1:
        raise ValueError(f"{POINTS_ENV} must be at least 1, got {points}")
    return points


def child_env() -> dict[str, str]:
    """One BLAS/OpenMP thread in every child: the reference and the killed runs do the same arithmetic,
    and two cores shared with other jobs are not oversubscribed."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_to_end(command: list[str], timeout: float = 300) -> str:
    """Run ``command`` uninterrupted; return its stdout. Fails with its output when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=child_env())
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


class Probe(NamedTuple):
    """What a chain can see of a running command from outside."""

    progress: Callable[[], int]  # finished units now visible (videos, shards, logged steps or epochs)
    partial: Callable[[], bool]  # work in progress is visible (a temporary; steps past the checkpoint)


@dataclass
class ChainReport:
    """What one kill chain did."""

    step: str
    kills: int = 0  # SIGKILLs that hit a running command, each followed by a rerun
    mid: int = 0  # of those, kills that left partial work (mid-video, mid-shard, mid-epoch)
    finished_first: int = 0  # attempts that completed before their kill point
    at: list[tuple[int, bool]] = field(default_factory=list)  # (units done, partial work left) per kill

    def line(self) -> str:
        where = ", ".join(f"{units}{'*' if partial else ''}" for units, partial in self.at)
        return (f"{self.step}: {self.kills} kill points survived ({self.mid} mid-unit), then a clean finish; "
                f"killed after units {where} (* = partial work left)")  # fmt: skip


def _wait(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float) -> None:
    """Poll until ``condition()``, the process exits or ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline and not condition():
        time.sleep(POLL)


def _kill_group(proc: subprocess.Popen) -> bool:
    """SIGKILL the whole process group (joblib workers too); False when it had already ended."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    proc.wait()
    time.sleep(0.1)  # the workers die asynchronously; let them go before looking at the outputs
    return True


def kill_chain(
    step: str,
    command: list[str],
    probe: Probe,
    *,
    total: int,
    unit_seconds: float,
    points: int,
    seed: int,
    after_kill: Callable[[int], None],
    timeout: float = 120,
) -> ChainReport:
    """Kill ``command`` at ``points`` seeded points, each time after it (re)started, then run it to the end.

    ``total`` units of work take ``unit_seconds`` each in an uninterrupted run. Kill i waits until
    ``max(threshold_i, units at its start + 1)`` units are done (so every attempt makes progress),
    then a random delay below one unit; the ``forced`` one also waits for partial work.
    ``after_kill(i)`` checks the outputs left by kill i.
    """
    if total < points + 3:
        raise ValueError(f"{step}: {total} units cannot hold {points} kill points; use more work")
    rng = random.Random(seed)
    # Each attempt needs one new unit, so the last kill waits for at most total - 2 units: it always
    # has work left to interrupt.
    thresholds = sorted(rng.randrange(total - points - 1) for _ in range(points))
    delays = [rng.uniform(0, unit_seconds) for _ in range(points)]
    forced = rng.randrange(points)
    report = ChainReport(step)
    for i in range(points):
        base = probe.progress()
        target = max(thresholds[i], base + 1)
        proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=child_env())  # fmt: skip
        try:
            _wait(lambda: probe.progress() >= target, proc, timeout)  # noqa: B023
            _wait(lambda: False, proc, delays[i])
            if i == forced:
                _wait(probe.partial, proc, max(10 * unit_seconds, 2.0))
            if proc.poll() is None and _kill_group(proc):
                partial = probe.partial()
                report.kills += 1
                report.mid += partial
                report.at.append((probe.progress(), partial))
                after_kill(i)
                continue
            assert proc.wait() == 0, f"{step}: attempt {i} failed (exit {proc.returncode})"
            report.finished_first += 1
            break  # the work is complete: no later kill point exists
        finally:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    run_to_end(command, timeout=timeout)
    return report


def count_final(folder: Path, pattern: str = "*") -> int:
    """Entries of ``folder`` matching ``pattern`` under their final names (no temporaries, no claims)."""
    from pipeline.storage.atomic import is_temporary

    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.glob(pattern) if not is_temporary(p) and not p.name.startswith("."))


def has_temporary(folder: Path) -> bool:
    """True when ``folder`` holds a temporary (a write in progress, or left by a killed run)."""
    from pipeline.storage.atomic import is_temporary

    return folder.is_dir() and any(is_temporary(p) for p in folder.iterdir())


def csv_rows(path: Path) -> int:
    """Complete data rows of a CSV log being written by another process (0 when absent)."""
    try:
        text = path.read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        return 0
    return max(text.count("\n") - 1, 0)


def toml_text(data: dict) -> str:
    """TOML for a config of scalars, lists and one level of tables (enough for bench/configs files)."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {v!r} as TOML")

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]", *(f"{k} = {value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"
