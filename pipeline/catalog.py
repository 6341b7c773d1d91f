"""What a dataset holds: its split definition, class order, and the videos present with their classes."""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import splits as split_defs
from pipeline.readers.video import VIDEO_EXTENSIONS
from pipeline.storage.atomic import is_temporary
from pipeline.storage.paths import DatasetPaths, require_utf8_name
from ufsn.choices import check_choices
from ufsn.errors import InputError, MissingInputError


@dataclass(frozen=True)
class Definition:
    """A dataset's split definition (splits/<dataset>.toml), with its classes resolved."""

    dataset: str
    rule: Literal["groups", "official", "none"]  # test groups by number | official list files | no splits
    classes: tuple[str, ...]  # label order: label = position
    groups: int = 0
    test_groups: tuple[tuple[int, int], ...] = ()  # inclusive group range tested by split k = position + 1
    name_pattern: str | None = None
    aliases: Mapping[str, str] = field(default_factory=dict)  # class token in file names -> class name
    official: Literal["ucf101", "hmdb51"] | None = None  # format of the official lists
    validation: Literal["groups", "fraction", "none"] = "none"
    val_fraction: float = 0.1
    splits: int = 0

    def __post_init__(self) -> None:
        check_choices(self)

    def label(self, cls: str) -> int:
        """0-based label of class ``cls``; ValueError for an unknown class."""
        try:
            return self.classes.index(cls)
        except ValueError:
            raise InputError(f"unknown class {cls!r} for dataset {self.dataset}") from None

    def parse_name(self, video_id: str) -> tuple[str, int] | None:
        """(class, group) read from a UCF-style video id, or None when the id has no such structure."""
        if not self.name_pattern:
            return None
        match = re.match(self.name_pattern, video_id)
        if match is None:
            return None
        token = match.group("class")
        return self.aliases.get(token, token), int(match.group("group"))


def _read_classes_csv(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        raise InputError(f"{path}: missing (the class order of this dataset comes from it)")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for line, row in enumerate(rows, start=2):
        if row.get("index") != str(line - 2) or not row.get("name"):
            raise InputError(f"{path}:{line}: expected index {line - 2} and a class name, got {row}")
    return tuple(row["name"] for row in rows)


def load_definition(paths: DatasetPaths) -> Definition:
    """The definition of ``paths.dataset``; a dataset without one gets sorted class folders and no rule."""
    if paths.dataset not in split_defs.available():
        folders = sorted(p.name for p in paths.videos.iterdir() if p.is_dir()) if paths.videos.is_dir() else []
        return Definition(dataset=paths.dataset, rule="none", classes=tuple(folders))
    raw = split_defs.load_definition(paths.dataset)
    classes = tuple(raw["classes"]) if "classes" in raw else _read_classes_csv(paths.base / raw["classes_file"])
    test_groups = tuple((int(a), int(b)) for a, b in raw.get("test_groups", ()))
    return Definition(
        dataset=paths.dataset,
        rule=raw["rule"],
        classes=classes,
        groups=int(raw.get("groups", 0)),
        test_groups=test_groups,
        name_pattern=raw.get("name_pattern"),
        aliases=dict(raw.get("aliases", {})),
        official=raw.get("official"),
        validation=raw.get("validation", "none"),
        val_fraction=float(raw.get("val_fraction", 0.1)),
        splits=int(raw.get("splits", len(test_groups))),
    )


class VideoEntry(NamedTuple):
    """One video present in the dataset folder; ``cls`` is its class folder when known."""

    video_id: str
    cls: str | None
    path: Path | None  # the video file, when the videos folder is there


def _from_videos(folder: Path) -> dict[str, VideoEntry]:
    entries: dict[str, VideoEntry] = {}
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not is_temporary(p)):
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() not in VIDEO_EXTENSIONS or is_temporary(file) or file.name.startswith("."):
                continue
            require_utf8_name(file)
            if file.stem in entries:
                raise InputError(f"{file}: video id {file.stem} also in {entries[file.stem].path}")
            entries[file.stem] = VideoEntry(file.stem, class_dir.name, file)
    return entries


def _from_frames(folder: Path) -> dict[str, VideoEntry]:
    return {
        p.name: VideoEntry(p.name, None, None)
        for p in sorted(folder.iterdir())
        if p.is_dir() and not is_temporary(p) and not p.name.startswith(".")
    }


def _from_index(index_csv: Path) -> dict[str, VideoEntry]:
    with index_csv.open(newline="", encoding="utf-8") as handle:
        return {row["video_id"]: VideoEntry(row["video_id"], row["class"], None) for row in csv.DictReader(handle)}


def discover_videos(paths: DatasetPaths) -> tuple[str, dict[str, VideoEntry]]:
    """Videos present, keyed by id, and where they were found: ``videos``, ``frames`` or ``index``.

    The videos folder is the source of truth; when the videos are gone (deleted after
    extraction to save space) the frames folder, then the shard index, stand in.
    """
    if paths.videos.is_dir():
        found = _from_videos(paths.videos)
        if found:
            return "videos", found
    if paths.frames.is_dir():
        found = _from_frames(paths.frames)
        if found:
            return "frames", found
    index_csv = paths.shards / "index.csv"
    if index_csv.is_file():
        return "index", _from_index(index_csv)
    raise MissingInputError(f"no videos under {paths.videos}, {paths.frames} or {index_csv}")


def class_of(definition: Definition, entry: VideoEntry) -> str | None:
    """The class of ``entry``: its folder, else the class in its name; None when neither tells.

    A folder that disagrees with the name (after the definition's aliases) is an error,
    since one of the two is then mislabelled.
    """
    parsed = definition.parse_name(entry.video_id)
    named = parsed[0] if parsed else None
    if entry.cls is not None and named is not None and named != entry.cls:
        raise InputError(f"{entry.path or entry.video_id}: in class {entry.cls!r} but its name says {named!r}")
    cls = entry.cls if entry.cls is not None else named
    if cls is not None and cls not in definition.classes:
        raise InputError(f"{entry.path or entry.video_id}: unknown class {cls!r} for dataset {definition.dataset}")
    return cls
