"""Resume rules shared by the per-video steps: what counts as done, and the recorded settings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pipeline.storage.atomic import atomic_write_text
from pipeline.storage.manifest import ManifestRow
from ufsn.errors import InputError


def folder_complete(folder: Path, count: int, names: Callable[[int], tuple[str, ...]]) -> bool:
    """True when ``folder`` holds exactly the files ``names(1..count)`` and nothing else of theirs."""
    if count < 1 or not folder.is_dir():
        return False
    present = {p.name for p in folder.iterdir()}
    expected = {name for i in range(1, count + 1) for name in names(i)}
    return expected <= present and len(present) == len(expected)


def is_done(row: ManifestRow | None, folder: Path, names: Callable[[int], tuple[str, ...]]) -> bool:
    """A video is skipped on resume only when its row says done and its folder has every file."""
    return row is not None and row.status == "done" and folder_complete(folder, row.frames, names)


def record_settings(path: Path, settings: dict, force: bool, assumed: dict | None = None) -> None:
    """Write the resolved settings of a step as JSON at ``path``.

    Refuses (``ValueError`` naming the file and the differing keys) when outputs already made
    with other settings are there and ``force`` is off: mixing two settings in one folder would
    go unnoticed downstream. ``assumed`` gives the value of a key that records older than the key lack.
    """
    text = json.dumps(settings, indent=2, sort_keys=True) + "\n"
    if path.exists() and not force:
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: unreadable settings record ({exc}); use --force to redo all") from exc
        old = {**(assumed or {}), **old}
        differ = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k) and k not in VOLATILE)
        if differ:
            details = ", ".join(f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in differ)
            raise InputError(f"{path.parent} was made with other settings ({details}); use --force to redo all")
    atomic_write_text(path, text)


# Keys that describe the run, not the outputs; a change in them does not invalidate outputs.
VOLATILE = frozenset(
    {
        "workers",
        "backend",
        "scheduler",
        "opencv_version",
        "decord_version",
        "torchcodec_version",
        "torch_version",
        "batch",
        "compile",
        "link",
        "check",
    }
)
