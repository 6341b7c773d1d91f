"""``ufsn-data all``: extract -> tvl1 -> shards -> splits, stopping at the first step that fails."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pipeline.frame_size import FrameSize
from pipeline.parallel import Backend
from pipeline.readers.decoders import Decoder, Device
from pipeline.steps.adopt import adopted_from
from pipeline.steps.extract import SETTINGS_FILE as FRAMES_SETTINGS
from pipeline.steps.extract import ExtractConfig, run_extract
from pipeline.steps.shards import ShardsConfig, run_shards
from pipeline.steps.splits import SplitsConfig, run_splits
from pipeline.steps.tvl1.step import TVL1Config, run_tvl1
from pipeline.steps.tvl1.video import SETTINGS_FILE as FLOW_SETTINGS
from pipeline.storage.paths import DatasetPaths
from ufsn.choices import check_choices
from ufsn.errors import UfsnError

STEPS = ("extract", "tvl1", "shards", "splits")


@dataclass(frozen=True)
class AllConfig:
    """Options of ``ufsn-data all`` (each step otherwise runs with its own defaults)."""

    root: Path = Path("data")
    dataset: str = "synthetic"
    workers: int = 1
    backend: Backend = "local"  # extract, tvl1
    scheduler: str | None = None
    force: bool = False  # redo extract, tvl1 and shards from scratch
    shard_size: int = 2**30
    official: Path | None = None  # official split lists (required for hmdb51)
    allow_missing: bool = False
    val_groups: int = 2
    size: FrameSize | None = None  # extract: frame size [default: 340x256 for ucf101/hmdb51]
    short_side: int | None = None  # extract: resize the short side instead
    fps: float | None = None  # extract: resample to this frame rate
    decoder: Decoder = "decord"  # extract: decord | torchcodec
    device: Device = "cpu"  # extract: cpu | cuda (NVDEC, torchcodec only)

    def __post_init__(self) -> None:
        check_choices(self)


class StepResult(NamedTuple):
    """One step of ``all``: its name, whether it succeeded, and its summary line."""

    step: str
    ok: bool
    line: str


class AllReport(NamedTuple):
    """Every step that ran (those after a failure did not), and the total time."""

    steps: tuple[StepResult, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        """True when all four steps ran and succeeded."""
        return len(self.steps) == len(STEPS) and all(s.ok for s in self.steps)


def _splits_line(report) -> str:
    counts = "; ".join(f"split{k}: " + "/".join(str(n) for n in c.values()) for k, c in report.counts.items())
    problems = f", {len(report.differences)} differences, {len(report.missing)} missing" if report.failed else ""
    return f"splits: {report.videos} videos from {report.source}/, train/val/test {counts}{problems}"


def _adopted(step: str, paths: DatasetPaths) -> str | None:
    """The tree the step's output was adopted from (extract and tvl1 only), else None."""
    settings = {"extract": paths.frames / FRAMES_SETTINGS, "tvl1": paths.tvl1 / FLOW_SETTINGS}.get(step)
    return adopted_from(settings) if settings is not None else None


def _run_step(step: str, config: AllConfig, progress: bool) -> StepResult:
    common = {"root": config.root, "dataset": config.dataset}
    adopted = _adopted(step, DatasetPaths(config.root, config.dataset))
    if adopted is not None and not config.force:
        return StepResult(step, True, f"{step}: adopted from {adopted} (ufsn-data adopt); not redone")
    parallel = {"workers": config.workers, "backend": config.backend, "scheduler": config.scheduler}
    if step == "extract":
        frames = {"size": config.size, "short_side": config.short_side, "fps": config.fps,
                  "decoder": config.decoder, "device": config.device}  # fmt: skip
        summary = run_extract(ExtractConfig(**common, **parallel, **frames, force=config.force), progress=progress)
    elif step == "tvl1":
        summary = run_tvl1(TVL1Config(**common, **parallel, force=config.force), progress=progress)
    elif step == "shards":
        shards = ShardsConfig(**common, shard_size=config.shard_size, force=config.force)
        summary = run_shards(shards, progress=progress)
    else:
        splits = SplitsConfig(
            **common, official=config.official, val_groups=config.val_groups, allow_missing=config.allow_missing
        )
        report = run_splits(splits)
        return StepResult(step, not report.failed, _splits_line(report))
    return StepResult(step, summary.failed == 0, summary.line())


def run_all(config: AllConfig, progress: bool = True) -> AllReport:
    """Run the data steps in order; a step that fails (or raises one of the project's errors) ends the run."""
    start = time.perf_counter()
    results: list[StepResult] = []
    for step in STEPS:
        try:
            result = _run_step(step, config, progress)
        except UfsnError as exc:  # bad input or config, no FFmpeg / no CUDA; a bug keeps its traceback
            result = StepResult(step, False, f"{step}: {exc}")
        results.append(result)
        if not result.ok:
            break
    return AllReport(tuple(results), time.perf_counter() - start)
