"""``ufsn-data check``: validate a downloaded dataset before hours of extraction.

Looks for what would otherwise surface late or never: class folders that are missing or
unknown, a video count that differs from the published one, videos filed under the wrong
class, files that do not decode (first and last frame, read in parallel), and, with the
official split files, names those files expect that the disk lacks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pipeline.catalog import Definition, VideoEntry, class_of, load_definition
from pipeline.official_lists import ListEntry, read_class_ind, read_hmdb_split, read_ucf_list
from pipeline.readers.video import VIDEO_EXTENSIONS
from pipeline.storage.paths import DatasetPaths, require_utf8_name
from ufsn.errors import InputError

# Published sizes: UCF-101 (Soomro et al., 2012) and HMDB-51 (Kuehne et al., 2011).
EXPECTED_VIDEOS: dict[str, int] = {"ucf101": 13_320, "hmdb51": 6_766}
# Every kind of problem, in the order the summary lists them.
KINDS = (
    "missing-folder",
    "missing-class",
    "unknown-class",
    "empty-class",
    "count",
    "misfiled",
    "bad-name",
    "unreadable",
    "bad-list",
    "listed-missing",
)


@dataclass(frozen=True)
class CheckConfig:
    """Options of ``ufsn-data check``."""

    root: Path = Path("data")
    dataset: str = "ucf101"
    official: Path | None = None  # folder of the official split files; their names must all be on disk
    workers: int = 2  # joblib processes decoding first and last frames
    decode: bool = True  # False skips the decode probe (folders, counts and lists only)


class Problem(NamedTuple):
    """One thing wrong with the dataset."""

    kind: str  # one of KINDS
    path: Path  # the file or folder concerned (a list file, with its line in ``message``)
    message: str


class CheckReport(NamedTuple):
    """What ``run_check`` found; ``problems`` is empty for a dataset ready to extract."""

    dataset: str
    classes_found: int  # class folders present that the definition knows
    classes_expected: int  # 0 when the dataset has no definition
    videos: int
    videos_expected: int  # 0 when no published count exists
    decoded: int  # videos whose first and last frames were read (0 with decode off)
    listed: int  # distinct names in the official lists (0 without --official)
    problems: tuple[Problem, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems


def probe_video(path: Path) -> str | None:
    """Why ``path`` does not decode (first frame, then the last by its header), or None when it does.

    The header may over-report by one frame (decord and some AVI muxers do),
    so the frame before the last also counts as the last one.
    """
    import cv2

    cv2.setNumThreads(1)  # the parallelism is across files
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot stat: {exc.strerror}"
    if size == 0:
        return "empty file (0 bytes)"
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return "cannot open (not a video OpenCV/FFmpeg can read)"
        if not cap.read()[0]:
            return "first frame does not decode"
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        count = int(count) if count and math.isfinite(count) and count > 0 else 0
        for last in (count - 1, count - 2):
            if last < 1:
                return None
            cap.set(cv2.CAP_PROP_POS_FRAMES, last)
            if cap.read()[0]:
                return None
        return f"last frames do not decode (header says {count} frames): truncated?"
    finally:
        cap.release()


def _layout(paths: DatasetPaths, definition: Definition) -> tuple[list[Problem], dict[str, VideoEntry], int]:
    """(problems, videos by id, known class folders) of the videos folder."""
    problems: list[Problem] = []
    entries: dict[str, VideoEntry] = {}
    folders = sorted(p for p in paths.videos.iterdir() if p.is_dir() and not p.name.startswith("."))
    known = set(definition.classes) if definition.rule != "none" else {p.name for p in folders}
    present = {p.name for p in folders}
    for cls in definition.classes:
        if cls not in present:
            problems.append(Problem("missing-class", paths.videos / cls, "class folder missing"))
    for folder in folders:
        if folder.name not in known:
            problems.append(Problem("unknown-class", folder, f"not a class of {definition.dataset}"))
            continue
        videos = sorted(
            p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".")
        )
        if not videos:
            problems.append(Problem("empty-class", folder, "no video files"))
        for video in videos:
            try:
                require_utf8_name(video)
            except ValueError:
                # never handed to OpenCV: such a name crashes VideoCapture (segmentation fault)
                problems.append(Problem("bad-name", video, "file name is not valid UTF-8; rename the file"))
                continue
            if video.stem in entries:
                problems.append(Problem("misfiled", video, f"video id also in {entries[video.stem].path}"))
                continue
            entry = VideoEntry(video.stem, folder.name, video)
            try:
                class_of(definition, entry)
            except ValueError as exc:
                problems.append(Problem("misfiled", video, str(exc).split(": ", 1)[-1]))
            entries[video.stem] = entry
    return problems, entries, len(present & known)


def _official_entries(config: CheckConfig, definition: Definition, paths: DatasetPaths):
    """(entries, problems) of every official list; a malformed list is a problem, not a crash."""
    folder = Path(config.official)
    classes = list(definition.classes)
    entries: list[ListEntry] = []
    problems: list[Problem] = []
    if definition.official == "ucf101":
        try:
            names = read_class_ind(folder / "classInd.txt")
            if names != classes:
                problems.append(Problem("bad-list", folder / "classInd.txt", "class order differs from splits/ucf101"))
        except ValueError as exc:
            problems.append(Problem("bad-list", folder / "classInd.txt", str(exc)))
        for split in range(1, definition.splits + 1):
            for name, train in ((f"trainlist{split:02d}.txt", True), (f"testlist{split:02d}.txt", False)):
                try:
                    entries += read_ucf_list(folder / name, classes, paths.videos, train=train)
                except ValueError as exc:
                    problems.append(Problem("bad-list", folder / name, str(exc)))
    elif definition.official == "hmdb51":
        for split in range(1, definition.splits + 1):
            try:
                entries += read_hmdb_split(folder, split, classes, paths.videos)
            except ValueError as exc:
                problems.append(Problem("bad-list", folder, str(exc)))
    else:
        raise InputError(f"{definition.dataset} has no official split files to check against")
    return entries, problems


def _decode_all(videos: list[Path], workers: int) -> list[str | None]:
    from joblib import Parallel, delayed

    if workers == 1 or len(videos) < 2:
        return [probe_video(v) for v in videos]
    return Parallel(n_jobs=workers, batch_size=8)(delayed(probe_video)(v) for v in videos)


def run_check(config: CheckConfig) -> CheckReport:
    """Check ``<root>/<dataset>/videos`` (and the official lists, when given); never writes anything."""
    start = time.perf_counter()
    paths = DatasetPaths(Path(config.root), config.dataset)
    definition = load_definition(paths)
    expected_videos = EXPECTED_VIDEOS.get(config.dataset, 0)
    expected_classes = len(definition.classes) if definition.rule != "none" else 0
    if not paths.videos.is_dir():
        problem = Problem("missing-folder", paths.videos, "videos folder missing (expected videos/<Class>/<video>)")
        seconds = time.perf_counter() - start
        return CheckReport(config.dataset, 0, expected_classes, 0, expected_videos, 0, 0, (problem,), seconds)
    problems, entries, classes_found = _layout(paths, definition)
    if expected_videos and len(entries) != expected_videos:
        message = f"{len(entries)} videos, {config.dataset} has {expected_videos}"
        problems.append(Problem("count", paths.videos, message))
    listed = 0
    if config.official is not None:
        listed_entries, list_problems = _official_entries(config, definition, paths)
        problems += list_problems
        expected = {}
        for entry in listed_entries:
            expected.setdefault(entry.video_id, entry)
        listed = len(expected)
        for video_id, entry in sorted(expected.items(), key=lambda item: item[1].where):
            if video_id not in entries:
                where = paths.videos / entry.cls / f"{video_id}.avi"
                problems.append(Problem("listed-missing", where, f"named by {entry.where}, not on disk"))
    decoded = 0
    if config.decode:
        videos = [entry.path for entry in entries.values()]
        for video, reason in zip(videos, _decode_all(videos, config.workers), strict=True):
            if reason is None:
                decoded += 1
            else:
                problems.append(Problem("unreadable", video, reason))
    problems.sort(key=lambda p: (KINDS.index(p.kind), str(p.path)))
    seconds = time.perf_counter() - start
    return CheckReport(
        config.dataset,
        classes_found,
        expected_classes,
        len(entries),
        expected_videos,
        decoded,
        listed,
        tuple(problems),
        seconds,
    )
