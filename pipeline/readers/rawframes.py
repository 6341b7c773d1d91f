"""Foreign rawframe trees (denseflow, mmaction2, TSN): where the videos are, how files are numbered, image checks.

A rawframe tree holds one folder per video, either at ``<tree>/<video>/`` or at
``<tree>/<Class>/<video>/`` (mmaction2's layout of UCF-101), with RGB frames ``img_<i>.jpg``
and TV-L1 flow ``flow_x_<i>.jpg`` / ``flow_y_<i>.jpg`` (denseflow, mmaction2) or ``x_<i>.jpg`` /
``y_<i>.jpg`` (some TSN trees). denseflow numbers from 0, mmaction2's extractors and TSN from 1;
flow pair ``i`` is the flow from frame ``i`` to frame ``i + 1`` in both.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, NamedTuple, get_args

from pipeline.storage.paths import require_utf8_name

FlowPrefix = Literal["flow_x", "x"]  # flow_x_/flow_y_ (denseflow, mmaction2) or x_/y_ (TSN-style trees)
StartIndex = Literal[0, 1]
FLOW_PREFIXES: tuple[str, ...] = get_args(FlowPrefix)
AXIS_PREFIX: dict[str, tuple[str, str]] = {"flow_x": ("flow_x", "flow_y"), "x": ("x", "y")}

RGB_RE = re.compile(r"img_(\d+)\.(jpg|jpeg)", re.IGNORECASE)
FLOW_RE = re.compile(r"(flow_x|flow_y|x|y)_(\d+)\.(jpg|jpeg|png)", re.IGNORECASE)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class TreeError(ValueError):
    """A rawframe tree or one of its videos that cannot be adopted; the message names the file."""


class FolderListing(NamedTuple):
    """The numbered files of one video folder: index -> file name, per kind."""

    rgb: dict[int, str]
    flow: dict[str, dict[int, str]]  # "flow_x" | "flow_y" | "x" | "y" -> index -> name
    flow_exts: frozenset[str]  # "jpg" and/or "png"


def list_folder(folder: Path) -> FolderListing:
    """Every ``img_<i>`` and flow file of ``folder`` (other files are ignored)."""
    rgb: dict[int, str] = {}
    flow: dict[str, dict[int, str]] = {}
    exts: set[str] = set()
    with os.scandir(folder) as entries:
        for entry in entries:
            if m := RGB_RE.fullmatch(entry.name):
                rgb[int(m.group(1))] = entry.name
            elif m := FLOW_RE.fullmatch(entry.name):
                flow.setdefault(m.group(1).lower(), {})[int(m.group(2))] = entry.name
                exts.add("png" if m.group(3).lower() == "png" else "jpg")
    return FolderListing(rgb, flow, frozenset(exts))


def _holds_frames(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return any(e.is_file() and (RGB_RE.fullmatch(e.name) or FLOW_RE.fullmatch(e.name)) for e in entries)


def find_video_folders(tree: Path) -> dict[str, Path]:
    """Video id -> folder, for folders of numbered frames at ``tree/<video>`` or ``tree/<Class>/<video>``.

    Raises ``TreeError`` when the tree is missing, holds no such folder, or two folders share a video id.
    """
    tree = Path(tree)
    if not tree.is_dir():
        raise TreeError(f"rawframe tree not found: {tree}")
    found: dict[str, Path] = {}

    def add(folder: Path) -> None:
        require_utf8_name(folder)
        if folder.name in found:
            raise TreeError(f"two folders share the video id {folder.name!r}: {found[folder.name]} and {folder}")
        found[folder.name] = folder

    for child in sorted(p for p in tree.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if _holds_frames(child):
            add(child)
            continue
        for grandchild in sorted(p for p in child.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if _holds_frames(grandchild):
                add(grandchild)
    if not found:
        raise TreeError(f"no video folders with img_<i>.jpg or flow files under {tree}/ or {tree}/<Class>/")
    return found


class Conventions(NamedTuple):
    """How a tree names and numbers its files, found from a sample of its folders or given by the user."""

    rgb_start: StartIndex
    flow_start: StartIndex | None  # None: the tree holds no flow
    flow_prefix: FlowPrefix | None
    flow_format: Literal["jpg", "png"] | None


def detect_conventions(listings: Iterable[tuple[Path, FolderListing]]) -> Conventions:
    """Start indices, flow names and flow format seen across ``listings`` (a sample of a tree's folders).

    A start index is 0 when any sampled folder has file 0, else 1, so that one video missing its
    first frame does not decide the tree. Mixed flow names or formats are an error naming two folders.
    """
    rgb_min: int | None = None
    flow_min: int | None = None
    prefixes: dict[str, Path] = {}
    formats: dict[str, Path] = {}
    for folder, listing in listings:
        if listing.rgb:
            rgb_min = min(min(listing.rgb), rgb_min if rgb_min is not None else 1 << 62)
        for name, files in listing.flow.items():
            prefixes.setdefault("flow_x" if name.startswith("flow_") else "x", folder)
            flow_min = min(min(files), flow_min if flow_min is not None else 1 << 62)
        for ext in listing.flow_exts:
            formats.setdefault(ext, folder)
    if len(prefixes) > 1:
        (a, fa), (b, fb) = prefixes.items()
        raise TreeError(f"flow files named both {a}_ ({fa}) and {b}_ ({fb}); give --flow-names")
    if len(formats) > 1:
        (a, fa), (b, fb) = formats.items()
        raise TreeError(f"flow images in both .{a} ({fa}) and .{b} ({fb}); adopt one format at a time")
    return Conventions(
        rgb_start=0 if rgb_min == 0 else 1,
        flow_start=None if flow_min is None else (0 if flow_min == 0 else 1),
        flow_prefix=next(iter(prefixes), None),  # type: ignore[arg-type]
        flow_format=next(iter(formats), None),  # type: ignore[arg-type]
    )


def _name_for(files: dict[int, str], index: int) -> str:
    """The name file ``index`` would have, numbered like the folder's last file (``img_00007.jpg``)."""
    example = files[max(files)]
    match = re.search(r"(\d+)(\.\w+)$", example)
    return f"{example[: match.start(1)]}{index:0{len(match.group(1))}d}{match.group(2)}"


def contiguous(files: dict[int, str], start: int, folder: Path, what: str) -> list[str]:
    """File names of ``files`` in index order from ``start``; ``TreeError`` naming the first gap."""
    if not files:
        return []
    first, last = min(files), max(files)
    if first < start:
        raise TreeError(f"{folder / files[first]}: {what} numbered below the tree's start index {start}")
    for index in range(start, last + 1):
        if index not in files:
            expected = last - start + 1
            raise TreeError(f"missing {what} {folder / _name_for(files, index)} ({len(files)} of {expected} present)")
    return [files[i] for i in range(start, last + 1)]


def check_image(path: Path, kind: Literal["jpg", "png"]) -> None:
    """``TreeError`` naming ``path`` when it is empty, not a JPEG/PNG, or cut short (no end marker).

    A cut JPEG still decodes in OpenCV (libjpeg fills the rest with grey and warns), so the end of
    the file is checked: a JPEG ends with EOI (FF D9), a PNG with its IEND chunk.
    """
    size = path.stat().st_size
    if size == 0:
        raise TreeError(f"{path}: empty file")
    with path.open("rb") as handle:
        head = handle.read(8)
        handle.seek(max(0, size - 64))
        tail = handle.read().rstrip(b"\x00")  # some writers pad the last block with zeros
    if kind == "jpg":
        if head[:2] != b"\xff\xd8":
            raise TreeError(f"{path}: not a JPEG (starts with {head[:2].hex()})")
        if not tail.endswith(b"\xff\xd9"):
            raise TreeError(f"{path}: JPEG cut short (no end-of-image marker)")
    else:
        if head != PNG_SIGNATURE:
            raise TreeError(f"{path}: not a PNG")
        if b"IEND" not in tail[-12:]:
            raise TreeError(f"{path}: PNG cut short (no IEND chunk)")


def decoded_shape(path: Path, grey: bool) -> tuple[int, ...]:
    """Decoded shape, ``(H, W, 3)`` or ``(H, W)``; ``TreeError`` naming ``path`` when it does not decode."""
    import cv2
    import numpy as np

    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    if image is None:
        raise TreeError(f"{path}: does not decode")
    return image.shape
