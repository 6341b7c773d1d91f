"""DataLoader workers: their count capped at the CPUs this process may run on, one thread each."""

from __future__ import annotations

from pipeline.api import usable_cpus

__all__ = ["capped_workers", "quiet_opencv_pool", "usable_cpus", "worker_cap_note", "worker_init", "worker_options"]


def capped_workers(requested: int) -> int:
    """``requested`` DataLoader workers, at most one per usable CPU (more only oversubscribe the cores)."""
    return min(max(0, requested), usable_cpus())


def worker_cap_note(requested: int) -> str | None:
    """The run-record note when ``requested`` workers are capped, else None."""
    used = capped_workers(requested)
    if used == requested:
        return None
    return f"input.workers {requested} capped at {used}: this process may use {usable_cpus()} CPUs (sched_getaffinity)"


def quiet_opencv_pool() -> None:
    """Stop OpenCV's worker threads in this process before DataLoader workers fork from it.

    OpenCV's thread pool is not fork-safe: a forked worker that reconfigures it (``cv2.setNumThreads``
    in :func:`worker_init`) waits forever for pool threads that live only in the parent. One thread
    stops the pool, so workers start clean; the parent only batches what they decode.
    """
    import cv2

    cv2.setNumThreads(1)


def worker_options(workers: int) -> dict:
    """DataLoader keyword arguments for ``workers`` decoding processes (``num_workers``, ``worker_init_fn``).

    With workers, OpenCV's pool in this process is stopped first (:func:`quiet_opencv_pool`): they fork
    from it when the loader is iterated.
    """
    if workers:
        quiet_opencv_pool()
    return {"num_workers": workers, "worker_init_fn": worker_init}


def worker_init(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: one OpenCV and one torch thread per worker (cores are the workers)."""
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
