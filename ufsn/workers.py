"""DataLoader worker counts capped at the CPUs this process may run on."""

from __future__ import annotations

from pipeline.api import usable_cpus

__all__ = ["capped_workers", "usable_cpus", "worker_cap_note"]


def capped_workers(requested: int) -> int:
    """``requested`` DataLoader workers, at most one per usable CPU (more only oversubscribe the cores)."""
    return min(max(0, requested), usable_cpus())


def worker_cap_note(requested: int) -> str | None:
    """The run-record note when ``requested`` workers are capped, else None."""
    used = capped_workers(requested)
    if used == requested:
        return None
    return f"input.workers {requested} capped at {used}: this process may use {usable_cpus()} CPUs (sched_getaffinity)"
