"""``ufsn-data splits``: train/val/test lists per split from the definitions in the ``splits`` package.

UCF-101 and the synthetic set follow a group rule (split k tests groups 7k-6..7k), so the
lists follow from the video names alone; ``--official DIR`` checks the published lists
against the rule line by line. HMDB-51 has no groups: its published files are the definition.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pipeline.catalog import Definition, VideoEntry, class_of, discover_videos, load_definition
from pipeline.official_lists import ListEntry, read_class_ind, read_hmdb_split, read_ucf_list
from pipeline.storage.atomic import atomic_write_text
from pipeline.storage.paths import DatasetPaths
from ufsn.errors import ConfigError, InputError

SUBSETS = ("train", "val", "test")
COLUMNS = ("video_id", "label", "class", "subset")


@dataclass(frozen=True)
class SplitsConfig:
    """Options of ``ufsn-data splits``."""

    root: Path = Path("data")
    dataset: str = "ucf101"
    official: Path | None = None  # folder of the published list files, checked against the rule
    val_groups: int = 2  # groups datasets: the last N train groups become val
    val_fraction: float | None = None  # datasets without groups: per-class val share (None: the definition's)
    seed: int = 0  # seeds the per-class val draw
    allow_missing: bool = False  # a listed video that is absent is then a warning, not a failure


class SplitRow(NamedTuple):
    """One line of ``split<k>.csv``."""

    video_id: str
    label: int
    cls: str
    subset: str  # train | val | test


class SplitsReport(NamedTuple):
    """What ``run_splits`` found and wrote; nothing is written when ``failed``."""

    source: str  # where the video ids came from: videos | frames | index
    videos: int
    counts: dict[int, dict[str, int]]  # split -> subset -> videos
    differences: tuple[str, ...]  # rule vs official lists, one message each
    missing: tuple[str, ...]  # listed videos that are not present
    written: tuple[Path, ...]
    failed: bool
    seconds: float


def group_subsets(definition: Definition, split: int, val_groups: int) -> dict[int, str]:
    """Subset of every group 1..G in ``split``: its test range, the last ``val_groups`` train groups as val."""
    if not 1 <= split <= len(definition.test_groups):
        raise ConfigError(f"{definition.dataset} has splits 1..{len(definition.test_groups)}, not {split}")
    first, last = definition.test_groups[split - 1]
    train = [g for g in range(1, definition.groups + 1) if not first <= g <= last]
    if not 0 <= val_groups < len(train):
        raise ConfigError(f"--val-groups must be 0..{len(train) - 1}, got {val_groups}")
    val = set(train[len(train) - val_groups :])
    return {
        g: "test" if first <= g <= last else "val" if g in val else "train" for g in range(1, definition.groups + 1)
    }


def rule_split(definition: Definition, split: int, entries: dict[str, VideoEntry], val_groups: int) -> list[SplitRow]:
    """Rows of ``split`` by the group rule, from the video ids (and class folders when known)."""
    subsets = group_subsets(definition, split, val_groups)
    rows = []
    for video_id, entry in entries.items():
        parsed = definition.parse_name(video_id)
        cls = class_of(definition, entry)
        if parsed is None or cls is None:
            raise InputError(f"{entry.path or video_id}: name does not match {definition.name_pattern}")
        if parsed[1] not in subsets:
            raise InputError(f"{entry.path or video_id}: group {parsed[1]} outside 1..{definition.groups}")
        rows.append(SplitRow(video_id, definition.label(cls), cls, subsets[parsed[1]]))
    return sorted(rows, key=lambda r: (r.label, r.video_id))


def fraction_validation(rows: list[SplitRow], fraction: float, seed: int, split: int) -> list[SplitRow]:
    """Move a seeded ``fraction`` of each class's train rows to val (HMDB-51 has no groups to hold out)."""
    out = [r for r in rows if r.subset != "train"]
    for label in sorted({r.label for r in rows}):
        train = sorted((r for r in rows if r.subset == "train" and r.label == label), key=lambda r: r.video_id)
        rng = np.random.default_rng([seed, split, label])
        val = set(rng.permutation(len(train))[: int(round(len(train) * fraction))].tolist())
        out += [r._replace(subset="val") if i in val else r for i, r in enumerate(train)]
    return sorted(out, key=lambda r: (r.label, r.video_id))


def _ucf_official(definition: Definition, folder: Path, split: int, base: Path) -> list[ListEntry]:
    classes = list(definition.classes)
    train = read_ucf_list(folder / f"trainlist{split:02d}.txt", classes, base, train=True)
    return train + read_ucf_list(folder / f"testlist{split:02d}.txt", classes, base, train=False)


def compare_official(rows: list[SplitRow], listed: list[ListEntry], present: set[str]) -> tuple[list[str], list[str]]:
    """(differences, missing) between rule rows and official entries (1 = train, 2 = test)."""
    by_id = {r.video_id: r for r in rows}
    differences, missing, seen = [], [], set()
    for entry in listed:
        if entry.video_id in seen:
            differences.append(f"{entry.where}: {entry.video_id} listed twice")
        seen.add(entry.video_id)
        if entry.video_id not in present:
            missing.append(f"{entry.where}: {entry.video_id} is listed but not present")
            continue
        row = by_id[entry.video_id]
        official = "test" if entry.code == 2 else "train"
        if ("test" if row.subset == "test" else "train") != official or row.cls != entry.cls:
            differences.append(
                f"{entry.where}: {entry.video_id} is {official}/{entry.cls} in the list, {row.subset}/{row.cls} by rule"
            )
    differences += [f"{vid}: present but in no official list" for vid in sorted(present - seen)]
    return differences, missing


def hmdb_rows(definition: Definition, listed: list[ListEntry], entries: dict[str, VideoEntry]) -> list[SplitRow]:
    """Rows of present videos coded 1 (train) or 2 (test); 0 = unused is left out."""
    rows = []
    for entry in listed:
        if entry.code == 0 or entry.video_id not in entries:
            continue
        rows.append(
            SplitRow(entry.video_id, definition.label(entry.cls), entry.cls, SUBSETS[0 if entry.code == 1 else 2])
        )
    return sorted(rows, key=lambda r: (r.label, r.video_id))


def format_split(rows: list[SplitRow]) -> str:
    """CSV text of a split file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue()


def read_split(path: Path, subsets: tuple[str, ...] = SUBSETS) -> list[SplitRow]:
    """Rows of ``split<k>.csv`` whose subset is in ``subsets``; malformed lines name file and line."""
    path = Path(path)
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader, ()))
        if header != COLUMNS:
            raise InputError(f"{path}:1: expected columns {','.join(COLUMNS)}, got {','.join(header)}")
        for line, rec in enumerate(reader, start=2):
            if len(rec) != 4 or not rec[1].isdigit() or rec[3] not in SUBSETS or not rec[0]:
                raise InputError(f"{path}:{line}: malformed split row {rec}")
            if rec[3] in subsets:
                rows.append(SplitRow(rec[0], int(rec[1]), rec[2], rec[3]))
    return rows


def _split_rows(config: SplitsConfig, definition: Definition, paths: DatasetPaths, entries, split: int):
    """(rows, differences, missing) of one split."""
    if definition.rule == "groups":
        rows = rule_split(definition, split, entries, config.val_groups)
        if config.official is None:
            return rows, [], []
        listed = _ucf_official(definition, Path(config.official), split, paths.videos)
        return (rows, *compare_official(rows, listed, set(entries)))
    listed = read_hmdb_split(Path(config.official), split, list(definition.classes), paths.videos)
    rows = hmdb_rows(definition, listed, entries)
    coded = [e for e in listed if e.code != 0]
    _, missing = compare_official(rows, coded, set(entries))
    differences = [
        f"{vid}: present but in no {definition.dataset} list"
        for vid in sorted(set(entries) - {e.video_id for e in listed})
    ]
    for entry in listed:
        known = entries.get(entry.video_id)
        if known is not None and known.cls is not None and known.cls != entry.cls:
            differences.append(f"{entry.where}: {entry.video_id} is in class folder {known.cls}, listed as {entry.cls}")
    fraction = definition.val_fraction if config.val_fraction is None else config.val_fraction
    return fraction_validation(rows, fraction, config.seed, split), differences, missing


def run_splits(config: SplitsConfig) -> SplitsReport:
    """Build every split of the dataset, compare with the official lists if given, write when consistent."""
    start = time.perf_counter()
    paths = DatasetPaths(Path(config.root), config.dataset)
    definition = load_definition(paths)
    if definition.rule == "none":
        raise ConfigError(f"no split definition for dataset {config.dataset!r}")
    if definition.rule == "official" and config.official is None:
        raise ConfigError(f"{config.dataset} splits are defined by its official files: pass --official DIR")
    source, entries = discover_videos(paths)
    differences: list[str] = []
    missing: list[str] = []
    if config.official is not None and definition.official == "ucf101":
        names = read_class_ind(Path(config.official) / "classInd.txt")
        if names != list(definition.classes):
            differences += [
                f"classInd.txt: id {i + 1} is {a!r}, the definition says {b!r}"
                for i, (a, b) in enumerate(zip(names, definition.classes, strict=False))
                if a != b
            ] or [f"classInd.txt: {len(names)} classes, the definition has {len(definition.classes)}"]
    results = {}
    for split in range(1, definition.splits + 1):
        rows, diff, miss = _split_rows(config, definition, paths, entries, split)
        results[split] = rows
        differences += diff
        missing += miss
    counts = {k: {s: sum(r.subset == s for r in rows) for s in SUBSETS} for k, rows in results.items()}
    failed = bool(differences) or (bool(missing) and not config.allow_missing)
    written: list[Path] = []
    if not failed:
        for split, rows in results.items():
            atomic_write_text(paths.split_csv(split), format_split(rows))
            written.append(paths.split_csv(split))
        resolved = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
        meta = {"config": resolved, "source": source, "counts": counts, "classes": list(definition.classes)}
        atomic_write_text(paths.splits / "splits.json", json.dumps(meta, indent=2) + "\n")
    seconds = time.perf_counter() - start
    return SplitsReport(
        source, len(entries), counts, tuple(differences), tuple(missing), tuple(written), failed, seconds
    )
