"""``ufsn-data adopt``: an existing rawframe tree (denseflow, mmaction2, TSN) -> ufsn's frames/ and tvl1/, no decoding.

Each video's files are hard-linked (copied where the file system cannot link) under ufsn's
1-based names into ``frames/<video>/img_00001.jpg`` and ``tvl1/<video>/flow_{x,y}_00001.jpg``,
one atomic folder per video, after checking that frames and flow pairs are contiguous, that
there is one pair fewer than frames, and that every image is whole. Where the tree came from and
its conventions go into ``frames/extract_config.json`` and ``tvl1/tvl1_config.json``, so that
``shards`` records them and a later ``extract`` or ``tvl1`` refuses to mix its output in.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, get_args

from pipeline.parallel import ParallelOptions, run_tasks
from pipeline.readers.rawframes import (
    AXIS_PREFIX,
    Conventions,
    FlowPrefix,
    FolderListing,
    TreeError,
    check_image,
    contiguous,
    decoded_shape,
    detect_conventions,
    find_video_folders,
    list_folder,
)
from pipeline.steps.extract import SETTINGS_FILE as FRAMES_SETTINGS
from pipeline.steps.tvl1.video import SETTINGS_FILE as FLOW_SETTINGS
from pipeline.storage.atomic import atomic_dir, output_dir, remove_stale_temporaries
from pipeline.storage.manifest import ManifestRow, StepSummary, read_manifest
from pipeline.storage.paths import DatasetPaths, flow_names, frame_name
from pipeline.storage.resume import folder_complete, record_settings
from ufsn.errors import ConfigError, InputError

STEP = "adopt"
LinkMode = Literal["auto", "hard", "copy"]
CheckMode = Literal["decode", "markers"]
StartChoice = Literal["auto", 0, 1]
FlowNamesChoice = Literal["auto", "flow_x", "x"]
# os.link fails with these where the file system or the mount cannot link; "auto" then copies.
LINK_REFUSED = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES})
TOOL = "ufsn-data adopt"


def _check_choice(name: str, value, choices) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")


@dataclass(frozen=True)
class AdoptConfig:
    """Options of ``ufsn-data adopt``."""

    frames: Path  # the rawframe tree holding <video>/img_<i>.jpg (or <Class>/<video>/...)
    root: Path = Path("data")
    dataset: str = "synthetic"
    flow: Path | None = None  # the tree holding the flow images; None = the frames tree
    with_flow: bool = True  # False: frames only (run `ufsn-data tvl1` afterwards)
    start_index: StartChoice = "auto"  # number of the first frame and pair; auto: 0 if any sampled folder has file 0
    flow_names: FlowNamesChoice = "auto"  # flow_x_/flow_y_ or x_/y_; auto: what the sampled folders hold
    bound: float | None = None  # px the flow images were clipped to; required when flow is adopted
    link: LinkMode = "auto"  # auto: hard links, copies where the file system refuses them
    check: CheckMode = "decode"  # decode every image (sizes agree), or only check that each file is whole
    sample: int = 50  # folders read up front to find the tree's conventions
    workers: int = 1
    force: bool = False  # adopt again videos already adopted

    def __post_init__(self) -> None:
        _check_choice("start_index", self.start_index, StartChoice)
        _check_choice("flow_names", self.flow_names, FlowNamesChoice)
        _check_choice("link", self.link, LinkMode)
        _check_choice("check", self.check, CheckMode)
        if self.bound is not None and self.bound <= 0:
            raise ConfigError(f"bound must be positive, got {self.bound}")
        if self.sample < 1:
            raise ConfigError(f"sample must be at least 1, got {self.sample}")
        if not self.with_flow and self.flow is not None:
            raise ConfigError("a flow tree was given but flow adoption is off")


class AdoptRules(NamedTuple):
    """What every worker needs to adopt a video the same way."""

    conventions: Conventions
    link: LinkMode
    check: CheckMode


class AdoptTask(NamedTuple):
    video_id: str
    rgb_folder: Path | None  # the source folder of the frames (None: the tree has flow only)
    flow_folder: Path | None  # the source folder of the flow (None: none in the flow tree)
    frames_out: Path
    flow_out: Path | None  # None when flow is not adopted
    rules: AdoptRules


class AdoptReport(NamedTuple):
    """The step summary, the conventions used and the flow tree (None when only frames were adopted)."""

    summary: StepSummary
    conventions: Conventions
    flow_tree: Path | None


def place(source: Path, target: Path, link: LinkMode) -> str:
    """Hard-link or copy ``source`` to ``target``; returns why it copied ("" when linked or asked to copy)."""
    if link != "copy":
        try:
            os.link(source, target)
            return ""
        except OSError as exc:
            if link == "hard" or exc.errno not in LINK_REFUSED:
                raise OSError(exc.errno, f"cannot hard-link {source} to {target}: {exc.strerror}") from exc
            reason = exc.strerror or errno.errorcode.get(exc.errno or 0, "refused")
    else:
        reason = ""
    shutil.copyfile(source, target)
    return reason


def _pair_count_problem(folder: Path, pairs: int, frames: int) -> str:
    expected = frames - 1
    if pairs > expected:
        how = f"{pairs - expected} more than the frames allow (frames missing at the end, or a different numbering)"
    else:
        how = f"{expected - pairs} missing at the end"
    return f"{folder}: {pairs} flow pairs for {frames} frames, expected {expected} (frames - 1): {how}"


def _flow_files(folder: Path, listing: FolderListing, c: Conventions) -> list[tuple[str, str]]:
    """(x name, y name) of every pair in order; ``TreeError`` naming the problem."""
    x_name, y_name = AXIS_PREFIX[c.flow_prefix]
    if not listing.flow.get(x_name) and not listing.flow.get(y_name):
        raise TreeError(f"{folder}: no {x_name}_<i> / {y_name}_<i> flow images")
    other = listing.flow_exts - {c.flow_format}
    if other:
        raise TreeError(f"{folder}: flow images in .{min(other)}, the tree's are .{c.flow_format}")
    xs = contiguous(listing.flow.get(x_name, {}), c.flow_start, folder, f"{x_name} image")
    ys = contiguous(listing.flow.get(y_name, {}), c.flow_start, folder, f"{y_name} image")
    if len(xs) != len(ys):
        raise TreeError(f"{folder}: {len(xs)} {x_name} images but {len(ys)} {y_name} images")
    return list(zip(xs, ys, strict=True))


def _check_images(folder: Path, names: list[str], kind, grey: bool, check: CheckMode) -> tuple[int, ...] | None:
    """Check every file; with ``decode`` also that all decode to one shape, which is returned."""
    shape = None
    for name in names:
        check_image(folder / name, kind)
        if check == "decode":
            this = decoded_shape(folder / name, grey)
            if shape is not None and this != shape:
                raise TreeError(
                    f"{folder / name}: {this[1]}x{this[0]} px, the folder's first image {shape[1]}x{shape[0]}"
                )
            shape = this
    return shape


def adopt_video(task: AdoptTask) -> ManifestRow:
    """Check one video's frames (and flow) and place them under ufsn's names; raises ``TreeError`` naming the file."""
    start = time.perf_counter()
    c, rules = task.rules.conventions, task.rules
    if task.rgb_folder is None:
        raise TreeError(f"{task.flow_folder}: flow without a frame folder of the same name")
    rgb = contiguous(list_folder(task.rgb_folder).rgb, c.rgb_start, task.rgb_folder, "frame")
    if not rgb:
        raise TreeError(f"{task.rgb_folder}: no img_<i>.jpg frames")
    pairs: list[tuple[str, str]] = []
    if task.flow_out is not None:
        if task.flow_folder is None:
            raise TreeError(f"{task.rgb_folder}: no flow folder of the same name in the flow tree")
        if len(rgb) < 2:
            raise TreeError(f"{task.rgb_folder}: 1 frame, so no flow pair")
        pairs = _flow_files(task.flow_folder, list_folder(task.flow_folder), c)
        if len(pairs) != len(rgb) - 1:
            raise TreeError(_pair_count_problem(task.flow_folder, len(pairs), len(rgb)))
    shape = _check_images(task.rgb_folder, rgb, "jpg", False, rules.check)
    if pairs:
        flat = [name for pair in pairs for name in pair]
        flow_shape = _check_images(task.flow_folder, flat, c.flow_format, True, rules.check)
        if shape is not None and flow_shape != shape[:2]:
            raise TreeError(
                f"{task.flow_folder / flat[0]}: flow {flow_shape[1]}x{flow_shape[0]} px, "
                f"frames {shape[1]}x{shape[0]} px"
            )
    copied: set[str] = set()
    try:
        with atomic_dir(task.frames_out) as tmp:
            for index, name in enumerate(rgb, start=1):
                copied.add(place(task.rgb_folder / name, tmp / frame_name(index), rules.link))
        if task.flow_out is not None:
            with atomic_dir(task.flow_out) as tmp:
                for index, (x, y) in enumerate(pairs, start=1):
                    x_out, y_out = flow_names(index, c.flow_format)
                    copied.add(place(task.flow_folder / x, tmp / x_out, rules.link))
                    copied.add(place(task.flow_folder / y, tmp / y_out, rules.link))
    except BaseException:
        # A failed video leaves no folder behind, so a rerun cannot take half of it as done.
        for out in (task.frames_out, task.flow_out):
            if out is not None:
                shutil.rmtree(out, ignore_errors=True)
        raise
    reasons = sorted(copied - {""})
    note = f"copied (hard link refused: {'; '.join(reasons)})" if reasons else ""
    return ManifestRow(task.video_id, "done", len(rgb), time.perf_counter() - start, note)


def adopted_from(settings: Path) -> str | None:
    """The tree a step's output was adopted from, per its settings record; None when the step made it."""
    try:
        record = json.loads(settings.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record.get("adopted_from") if record.get("tool") == TOOL else None


def _sample(folders: dict[str, Path], count: int) -> list[Path]:
    """Up to ``count`` folders spread evenly over the sorted ids."""
    ids = sorted(folders)
    step = max(1, len(ids) // count)
    return [folders[vid] for vid in ids[::step][:count]]


def resolve_conventions(config: AdoptConfig, rgb: dict[str, Path], flow: dict[str, Path] | None) -> Conventions:
    """The tree's conventions: detected from a sample of its folders, then overridden by the options."""
    listings = [(folder, list_folder(folder)) for folder in _sample(rgb, config.sample)]
    seen = detect_conventions(listings)
    if flow is not None and flow is not rgb:
        flow_seen = detect_conventions([(f, list_folder(f)) for f in _sample(flow, config.sample)])
        seen = seen._replace(flow_start=flow_seen.flow_start, flow_prefix=flow_seen.flow_prefix,
                             flow_format=flow_seen.flow_format)  # fmt: skip
    if flow is None:
        seen = seen._replace(flow_start=None, flow_prefix=None, flow_format=None)
    if config.start_index != "auto":
        seen = seen._replace(rgb_start=config.start_index)
        if seen.flow_start is not None:
            seen = seen._replace(flow_start=config.start_index)
    if config.flow_names != "auto" and seen.flow_prefix is not None:
        seen = seen._replace(flow_prefix=config.flow_names)
    return seen


def _records(config: AdoptConfig, c: Conventions, frames_tree: Path, flow_tree: Path | None) -> tuple[dict, dict]:
    common = {"tool": TOOL, "link": config.link, "check": config.check}
    frames = {**common, "adopted_from": str(frames_tree.resolve()), "start_index": c.rgb_start,
              "source_names": "img_<i>.jpg"}  # fmt: skip
    if flow_tree is None:
        return frames, {}
    x, y = AXIS_PREFIX[c.flow_prefix]
    flow = {**common, "adopted_from": str(flow_tree.resolve()), "start_index": c.flow_start,
            "source_names": f"{x}_<i>.{c.flow_format}, {y}_<i>.{c.flow_format}", "format": c.flow_format,
            "bound": float(config.bound)}  # fmt: skip
    return frames, flow


def _done(row: ManifestRow | None, task: AdoptTask, flow_format: str | None) -> bool:
    if row is None or row.status != "done":
        return False
    if not folder_complete(task.frames_out, row.frames, lambda i: (frame_name(i),)):
        return False
    return task.flow_out is None or folder_complete(task.flow_out, row.frames - 1, lambda i: flow_names(i, flow_format))


def run_adopt(config: AdoptConfig, progress: bool = True) -> AdoptReport:
    """Adopt every video folder of the tree into ``config.dataset``; resumes unless ``config.force``."""
    paths = DatasetPaths(config.root, config.dataset)
    frames_tree = Path(config.frames)
    rgb_folders = find_video_folders(frames_tree)
    flow_tree = Path(config.flow) if config.flow is not None else frames_tree
    if not config.with_flow:
        flow_folders = None
    elif config.flow is None:
        flow_folders = rgb_folders
    else:
        flow_folders = find_video_folders(flow_tree)
    conventions = resolve_conventions(config, rgb_folders, flow_folders)
    if conventions.flow_prefix is None:
        if config.flow is not None:
            raise TreeError(f"no flow_x_<i> or x_<i> images in the sampled folders of {flow_tree}")
        flow_folders = None  # a tree of frames only: adopt them, tvl1 computes the flow
    adopt_flow = flow_folders is not None
    if adopt_flow and config.bound is None:
        raise InputError(
            f"{flow_tree} holds flow images: give --bound, the px their flow was clipped to "
            "(ufsn, TSN and mmaction2's tools: 20; denseflow's own default: 32)"
        )
    frames_record, flow_record = _records(config, conventions, frames_tree, flow_tree if adopt_flow else None)
    output_dir(paths.frames)
    record_settings(paths.frames / FRAMES_SETTINGS, frames_record, config.force)
    remove_stale_temporaries(paths.frames)
    if adopt_flow:
        output_dir(paths.tvl1)
        record_settings(paths.tvl1 / FLOW_SETTINGS, flow_record, config.force)
        remove_stale_temporaries(paths.tvl1)
    rules = AdoptRules(conventions, config.link, config.check)
    manifest = paths.manifest_csv(STEP)
    previous = read_manifest(manifest)
    ids = sorted(set(rgb_folders) | set(flow_folders or ()))
    kept: dict[str, ManifestRow] = {}
    tasks = []
    for vid in ids:
        task = AdoptTask(vid, rgb_folders.get(vid), (flow_folders or {}).get(vid), paths.frame_dir(vid),
                         paths.flow_dir(vid) if adopt_flow else None, rules)  # fmt: skip
        if not config.force and _done(previous.get(vid), task, conventions.flow_format):
            kept[vid] = previous[vid]
        else:
            tasks.append(task)
    others = {vid: row for vid, row in previous.items() if vid not in set(ids)}
    options = ParallelOptions(config.workers, "local", None, progress)
    summary = run_tasks(STEP, adopt_video, tasks, kept, manifest, options, others)
    return AdoptReport(summary, conventions, flow_tree if adopt_flow else None)


def describe(report: AdoptReport, bound: float | None) -> str:
    """One line saying which conventions the tree was read with."""
    c = report.conventions
    line = f"adopt: frames img_<i>.jpg from {c.rgb_start}"
    if report.flow_tree is None:
        return line + "; no flow adopted (run `ufsn-data tvl1`)"
    x, y = AXIS_PREFIX[c.flow_prefix]
    return line + f"; flow {x}_<i>/{y}_<i>.{c.flow_format} from {c.flow_start}, bound {bound:g} px"


__all__ = ["AdoptConfig", "AdoptReport", "FlowPrefix", "adopt_video", "adopted_from", "describe", "run_adopt"]
