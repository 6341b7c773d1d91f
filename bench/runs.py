"""The run store: one folder per trained/evaluated run, ``<root>/<dataset>/runs/<name>/record.json``.

Beside the record live ``checkpoint.pt`` and run-specific files (train_log.csv, scores.npz, ...).
An existing run is never overwritten unless the caller resumes or forces.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.storage.atomic import atomic_write_text, output_dir, remove_stale_temporaries
from pipeline.storage.paths import DatasetPaths
from ufsn.checkpoint import CHECKPOINT  # noqa: F401  (the run's checkpoint: one name for ufsn/ and bench/)
from ufsn.errors import ConfigError, InputError, MissingInputError, OutputExistsError

RECORD = "record.json"


@dataclass(frozen=True)
class RunRecord:
    """One run: the fields of record.json, which tables and later tools read by name."""

    name: str  # run folder name, e.g. flow-full-split1
    method: str  # rgb | tvl1 | supflow | ufsn | ufsn-nms | ufsn-nocv-nms | flow-<variant>
    dataset: str
    split: int
    metrics: dict[str, float | None] = field(
        default_factory=lambda: {"top1": None, "top5": None, "mean_class_acc": None}
    )  # classification, fractions 0..1 (None for flow-only runs)
    flow_metrics: dict[str, Any] = field(default_factory=dict)  # flow runs: epe, epe_noc, outliers, ...
    params: int = 0  # parameters of the trained model, trainable or frozen (count_parameters)
    config: dict[str, Any] = field(default_factory=dict)  # resolved config
    weights: str = "random"  # random, or the initial weights file with its SHA-256 ("<path> sha256:<hex>")
    device: str = "cpu"
    seconds: float = 0.0  # training wall time
    git_commit: str = ""
    created: str = ""  # ISO 8601, UTC
    # Metrics of each stream of a two-stream run (spatial, temporal).
    stream_metrics: dict[str, Any] = field(default_factory=dict)
    # What the run changed from its config and why (capped workers, partial BN off, an early stop).
    notes: list[str] = field(default_factory=list)
    world_size: int = 1  # processes that trained it (torchrun's WORLD_SIZE)
    # Items per optimiser step over all processes, per stage (stage1: pairs; spatial, temporal, stage2, stage3: clips).
    global_batch: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=False)


def git_commit(repo: Path | None = None) -> str:
    """HEAD commit of the code (``+dirty`` when tracked files changed), or ``unknown`` outside git."""
    cwd = repo or Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], cwd=cwd, capture_output=True, text=True)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_dir(root: Path, dataset: str, name: str) -> Path:
    """Folder of run ``name``; the name must be a single path component."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ConfigError(f"invalid run name {name!r}")
    return DatasetPaths(Path(root), dataset).run_dir(name)


def prepare_run(root: Path, dataset: str, name: str, *, resume: bool = False, force: bool = False) -> Path:
    """Create (or reopen with ``resume``, or wipe with ``force``) a run folder; refuse to overwrite otherwise."""
    folder = run_dir(root, dataset, name)
    if folder.exists() and not resume:
        if not force:
            raise OutputExistsError(f"run {folder} exists; use --resume to continue it or --force to replace it")
        shutil.rmtree(folder)
    output_dir(folder)
    # A run killed while saving leaves .checkpoint.pt.tmp-<pid>-* (as large as a checkpoint); never read.
    remove_stale_temporaries(folder)
    return folder


@contextmanager
def run_folder(root: Path, dataset: str, name: str, *, resume: bool = False, force: bool = False,
               is_main: bool = True) -> Iterator[Path]:  # fmt: skip
    """The run folder for the body's work, made by :func:`prepare_run` on rank 0 (every rank gets it).

    A folder this call made is removed again when the body fails before writing a checkpoint, so a
    failed start never leaves a half-made run that the next try refuses without ``--resume``.
    """
    from ufsn.distributed import on_main

    folder = run_dir(root, dataset, name)
    made = on_main(lambda: (not folder.exists(), prepare_run(root, dataset, name, resume=resume, force=force))[0])
    try:
        yield folder
    except BaseException:
        # No collective here: the other ranks may have failed differently (or be gone).
        if is_main and made and not any(folder.glob("checkpoint*.pt")):
            shutil.rmtree(folder, ignore_errors=True)
        raise


def write_record(folder: Path, record: RunRecord) -> Path:
    """Atomically write ``record.json`` into ``folder``."""
    path = Path(folder) / RECORD
    atomic_write_text(path, record.to_json() + "\n")
    return path


def load_record(folder: Path) -> RunRecord:
    """Read a run's ``record.json``; raises naming the file when missing or malformed."""
    path = Path(folder) / RECORD
    if not path.is_file():
        raise MissingInputError(f"no run record {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunRecord(**data)
    except (json.JSONDecodeError, TypeError) as exc:
        raise InputError(f"malformed run record {path}: {exc}") from exc


def update_record(folder: Path, **changes) -> RunRecord:
    """Replace fields of an existing record (e.g. ``flow_metrics`` after flow-eval) and write it back."""
    record = dataclasses.replace(load_record(folder), **changes)
    write_record(folder, record)
    return record


def list_runs(root: Path, dataset: str) -> list[RunRecord]:
    """Every run of a dataset that has a record, by name."""
    runs = DatasetPaths(Path(root), dataset).runs
    return [load_record(p) for p in sorted(runs.glob("*")) if (p / RECORD).is_file()]
