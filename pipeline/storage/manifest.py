"""Per-step status table ``<dataset>/manifest/<step>.csv``: video_id,status,frames,seconds,error."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, get_args

from pipeline.storage.atomic import atomic_write_text
from ufsn.choices import check_choices
from ufsn.errors import InputError

COLUMNS = ("video_id", "status", "frames", "seconds", "error")
Status = Literal["done", "failed", "skipped"]
STATUSES: tuple[str, ...] = get_args(Status)


@dataclass(frozen=True)
class ManifestRow:
    """The outcome of one step on one video."""

    video_id: str
    status: Status
    frames: int = 0
    seconds: float = 0.0
    error: str = ""

    def __post_init__(self) -> None:
        check_choices(self)


def read_manifest(path: Path) -> dict[str, ManifestRow]:
    """Rows of a manifest keyed by video id; an absent file gives an empty dict."""
    path = Path(path)
    if not path.exists():
        return {}
    rows: dict[str, ManifestRow] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise InputError(f"{path}: expected columns {','.join(COLUMNS)}, got {reader.fieldnames}")
        for line, rec in enumerate(reader, start=2):
            try:
                rows[rec["video_id"]] = ManifestRow(
                    video_id=rec["video_id"],
                    status=rec["status"],
                    frames=int(rec["frames"] or 0),
                    seconds=float(rec["seconds"] or 0.0),
                    error=rec["error"] or "",
                )
            except (TypeError, ValueError) as exc:
                raise InputError(f"{path}:{line}: {exc}") from exc
    return rows


def format_manifest(rows: dict[str, ManifestRow]) -> str:
    """CSV text of ``rows``, sorted by video id so reruns produce identical files."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for video_id in sorted(rows):
        row = rows[video_id]
        writer.writerow([row.video_id, row.status, row.frames, f"{row.seconds:.3f}", row.error])
    return buffer.getvalue()


def write_manifest(path: Path, rows: dict[str, ManifestRow]) -> None:
    """Atomically replace the manifest at ``path`` with ``rows``."""
    atomic_write_text(Path(path), format_manifest(rows))


def summarize(rows: dict[str, ManifestRow]) -> dict[str, int]:
    """Counts per status, every status present (zero when absent)."""
    counts = dict.fromkeys(STATUSES, 0)
    for row in rows.values():
        counts[row.status] += 1
    return counts


class StepSummary(NamedTuple):
    """What a batch step did: counts per status, where the manifest is, and how long it took."""

    step: str
    done: int
    failed: int
    skipped: int
    manifest: Path
    seconds: float
    by_others: int = 0  # of the done videos, how many another run did (concurrent, or killed before writing its rows)

    def line(self) -> str:
        """One-line summary printed by the CLI, e.g. ``98 done, 2 failed - see <manifest>``."""
        text = f"{self.step}: {self.done} done, {self.failed} failed, {self.skipped} skipped in {self.seconds:.1f} s"
        if self.by_others:
            text += f" ({self.by_others} done by another run)"
        return text + (f" - see {self.manifest}" if self.failed else "")
