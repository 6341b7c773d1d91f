"""Run one function per video, locally (joblib processes) or on a dask.distributed cluster.

The runner knows nothing about frames or flow: a step gives it picklable tasks (each with a
``video_id``) and a top-level function ``task -> ManifestRow``. It pins OpenCV to one thread per
task, turns any exception into a ``failed`` row (the batch goes on), shows videos/s and frames/s,
and keeps ``<dataset>/manifest/<step>.csv`` up to date so an interrupted run can resume.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from pipeline.readers.video import VideoError  # no cycle: it imports only storage.paths and readers.decoders
from pipeline.storage.claim import CONCURRENT_NOTE, Deferred
from pipeline.storage.manifest import ManifestRow, StepSummary, summarize, write_manifest
from ufsn.choices import check_choices
from ufsn.errors import ConfigError

Backend = Literal["local", "dask"]  # joblib processes on this machine | a dask cluster
FLUSH_SECONDS = 2.0  # rewriting the whole CSV per video would be quadratic on UCF-101's 13k videos


class Task(Protocol):
    video_id: str


@dataclass(frozen=True)
class ParallelOptions:
    """Where the per-video tasks run."""

    workers: int = 1  # local processes (joblib); ignored by the dask backend
    backend: Backend = "local"
    scheduler: str | None = None  # dask scheduler address, e.g. tcp://10.0.0.1:8786
    progress: bool = True  # a bar on stderr (plain periodic lines when it is not a terminal)

    def __post_init__(self) -> None:
        check_choices(self)
        if self.backend == "dask" and not self.scheduler:
            raise ConfigError("the dask backend needs a scheduler address (--scheduler tcp://HOST:PORT)")
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")


def usable_cpus() -> int:
    """CPUs this process may use: its affinity mask (cgroups, taskset, SLURM), else the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no sched_getaffinity (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def one_line(text: str) -> str:
    """Collapse whitespace so a reason fits one manifest cell."""
    return " ".join(str(text).split())


def guarded(func: Callable[[Task], ManifestRow], task: Task) -> ManifestRow:
    """Run ``func(task)`` with one OpenCV thread; an exception becomes a ``failed`` row with its reason.

    ``func`` may also return :class:`~pipeline.storage.claim.Deferred` (another run holds the video); it is passed on.
    """
    import cv2

    threads = cv2.getNumThreads()
    # One thread per task: the parallelism is across videos, and nested OpenCV threads oversubscribe.
    cv2.setNumThreads(1)
    start = time.perf_counter()
    try:
        return func(task)
    except Exception as exc:
        reason = one_line(exc) if isinstance(exc, VideoError) else one_line(f"{type(exc).__name__}: {exc}")
        return ManifestRow(task.video_id, "failed", 0, time.perf_counter() - start, reason)
    finally:
        cv2.setNumThreads(threads)


def _local(func, tasks: Sequence[Task], workers: int) -> Iterator[ManifestRow]:
    from joblib import Parallel, delayed

    if workers == 1:
        # In-process: no pickling, and tracebacks of programming errors stay readable.
        for task in tasks:
            yield guarded(func, task)
        return
    yield from Parallel(n_jobs=workers, return_as="generator_unordered")(delayed(guarded)(func, t) for t in tasks)


def _dask(func, tasks: Sequence[Task], scheduler: str) -> Iterator[ManifestRow]:
    from dask.distributed import Client, as_completed

    with Client(scheduler, timeout="30s") as client:
        futures = client.map(functools.partial(guarded, func), list(tasks), pure=False)
        by_key = {fut.key: task for fut, task in zip(futures, tasks, strict=True)}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # e.g. KilledWorker after the scheduler's retries
                yield ManifestRow(
                    by_key[future.key].video_id, "failed", 0, 0.0, one_line(f"{type(exc).__name__}: {exc}")
                )
            future.release()


def _run(func, tasks: Sequence[Task], options: ParallelOptions) -> Iterator[ManifestRow | Deferred]:
    if options.backend == "dask":
        return _dask(func, tasks, options.scheduler)
    return _local(func, tasks, options.workers)


def _two_passes(func, tasks: Sequence[Task], options: ParallelOptions, then) -> Iterator[ManifestRow]:
    """Rows of every task; tasks deferred by ``func`` (claimed by another run) go through ``then`` at the end."""
    deferred = []
    by_id = {task.video_id: task for task in tasks}
    for row in _run(func, tasks, options):
        if isinstance(row, Deferred):
            deferred.append(by_id[row.video_id])
        else:
            yield row
    if deferred:
        yield from _run(then or func, deferred, options)


def run_tasks(
    step: str,
    func: Callable[[Task], ManifestRow | Deferred],
    tasks: Sequence[Task],
    kept: dict[str, ManifestRow],
    manifest: Path,
    options: ParallelOptions,
    others: dict[str, ManifestRow] | None = None,
    then: Callable[[Task], ManifestRow] | None = None,
) -> StepSummary:
    """Run ``func`` on every task and keep ``manifest`` written with their rows.

    ``kept`` holds the rows of this run's videos skipped by resume, ``others`` rows of videos
    outside this run (written back unchanged, not counted). The summary counts this run's videos.
    Tasks for which ``func`` returns ``Deferred`` run again through ``then`` after all the others
    (a :class:`~pipeline.storage.claim.ClaimedStep` and its ``waiting()`` version).
    """
    from pipeline.progress import progress_bar

    start = time.perf_counter()
    rows = {**(others or {}), **kept}
    results = _two_passes(func, tasks, options, then)
    bar = progress_bar(total=len(tasks), unit="video", desc=step, enabled=options.progress)
    frames = failed = by_others = 0
    last_flush = time.monotonic()
    try:
        write_manifest(manifest, rows)
        for row in results:
            rows[row.video_id] = row
            frames += row.frames
            failed += row.status == "failed"
            by_others += row.error == CONCURRENT_NOTE
            bar.update(1)
            elapsed = max(time.perf_counter() - start, 1e-9)
            bar.set_postfix_str(f"{frames / elapsed:.0f} frames/s, {failed} failed", refresh=False)
            if time.monotonic() - last_flush > FLUSH_SECONDS:
                write_manifest(manifest, rows)
                last_flush = time.monotonic()
    finally:
        bar.close()
        # Also on Ctrl-C: the rows finished so far are kept, so the rerun only redoes the rest.
        write_manifest(manifest, rows)
    ids = set(kept) | {task.video_id for task in tasks}
    counts = summarize({vid: row for vid, row in rows.items() if vid in ids})
    return StepSummary(
        step, counts["done"], counts["failed"], counts["skipped"], manifest, time.perf_counter() - start, by_others
    )
