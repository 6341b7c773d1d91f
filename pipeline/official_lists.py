"""Readers of the official split files of UCF-101 and HMDB-51, strict about format, lenient about whitespace.

Both distributions are hand-made text: UCF-101's have CRLF line ends, HMDB-51's a trailing
space on every line, and re-saved copies sometimes gain a UTF-8 BOM. All three are tolerated;
anything else unexpected is an error naming the file and line.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import NamedTuple

from pipeline.storage.paths import inside
from ufsn.errors import InputError, MissingInputError


class ListEntry(NamedTuple):
    """One line of an official list."""

    video_id: str
    cls: str
    code: int  # UCF-101: 1 train, 2 test; HMDB-51 as in the file: 0 unused, 1 train, 2 test
    where: str  # "file:line", for messages


def read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of every non-blank line; BOM and CRLF tolerated."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: official list file missing")
    text = path.read_bytes().decode("utf-8-sig")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def read_class_ind(path: Path) -> list[str]:
    """Class names of UCF-101's ``classInd.txt`` in file order (ids must run 1, 2, ...)."""
    names = []
    for line, text in read_lines(path):
        parts = text.split()
        if len(parts) != 2 or parts[0] != str(len(names) + 1):
            raise InputError(f"{path}:{line}: expected '<id> <ClassName>' with id {len(names) + 1}, got {text!r}")
        names.append(parts[1])
    return names


def _video_path(path: Path, line: int, relative: str, base: Path, depth: int) -> PurePosixPath:
    try:
        inside(base, relative)
    except ValueError as exc:
        raise InputError(f"{path}:{line}: {exc}") from None
    rel = PurePosixPath(relative)
    if len(rel.parts) != depth or not rel.suffix:
        shape = "Class/video.avi" if depth == 2 else "video.avi"
        raise InputError(f"{path}:{line}: expected a path like {shape}, got {relative!r}")
    return rel


def read_ucf_list(path: Path, classes: list[str], base: Path, train: bool) -> list[ListEntry]:
    """Entries of ``trainlistNN.txt`` (``Class/v_X.avi <id>``) or ``testlistNN.txt`` (``Class/v_X.avi``).

    Args:
        path: the list file.
        classes: classInd order; a train label must name the line's class folder.
        base: the videos folder the paths are relative to (they may not escape it).
        train: True for a trainlist (label required), False for a testlist (label optional).
    """
    entries = []
    for line, text in read_lines(path):
        parts = text.split()
        if len(parts) not in ((2,) if train else (1, 2)):
            expected = "'Class/video.avi <label>'" if train else "'Class/video.avi'"
            raise InputError(f"{path}:{line}: expected {expected}, got {text!r}")
        rel = _video_path(path, line, parts[0], base, depth=2)
        cls = rel.parts[0]
        if cls not in classes:
            raise InputError(f"{path}:{line}: unknown class {cls!r}")
        if len(parts) == 2:
            if not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(classes):
                raise InputError(f"{path}:{line}: label must be 1..{len(classes)}, got {parts[1]!r}")
            if classes[int(parts[1]) - 1] != cls:
                raise InputError(f"{path}:{line}: label {parts[1]} is {classes[int(parts[1]) - 1]!r}, not {cls!r}")
        entries.append(ListEntry(rel.stem, cls, 1 if train else 2, f"{path.name}:{line}"))
    return entries


def read_hmdb_split(folder: Path, split: int, classes: list[str], base: Path) -> list[ListEntry]:
    """Entries of every ``<class>_test_split<k>.txt`` in ``folder`` (``video.avi <0|1|2>``).

    Every class must have its file, and a file for a class outside ``classes`` is an error.
    """
    folder = Path(folder)
    suffix = f"_test_split{split}.txt"
    present = {p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}")}
    unknown = sorted(present - set(classes))
    if unknown:
        raise InputError(f"{folder}: split files for unknown classes: {', '.join(unknown)}")
    entries = []
    for cls in classes:
        path = folder / f"{cls}{suffix}"
        for line, text in read_lines(path):
            parts = text.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise InputError(f"{path}:{line}: expected '<video>.avi <0|1|2>', got {text!r}")
            rel = _video_path(path, line, parts[0], base / cls, depth=1)
            entries.append(ListEntry(rel.stem, cls, int(parts[1]), f"{path.name}:{line}"))
    return entries
