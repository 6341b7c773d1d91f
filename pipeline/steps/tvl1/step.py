"""``ufsn-data tvl1``: frames -> Dual TV-L1 flow (OpenCV contrib or its PyTorch port), quantised images, resumable."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.parallel import Backend, ParallelOptions, run_tasks, usable_cpus
from pipeline.steps.tvl1 import opencv, pytorch  # torch loads here, in the parent; a worker imports the chosen one
from pipeline.steps.tvl1.devices import Device, Impl, check_compiler, check_device
from pipeline.steps.tvl1.params import TVL1Params
from pipeline.steps.tvl1.video import SETTINGS_FILE, FlowFormat, FlowSettings, TVL1Task, tvl1_video
from pipeline.storage.atomic import is_temporary, output_dir, remove_stale_temporaries
from pipeline.storage.claim import ClaimedStep, planned_identity, remove_stale_claims
from pipeline.storage.flowcode import DEFAULT_BOUND
from pipeline.storage.manifest import ManifestRow, StepSummary, read_manifest
from pipeline.storage.paths import DatasetPaths, flow_names
from pipeline.storage.resume import is_done, record_settings
from ufsn.choices import check_choices
from ufsn.errors import ConfigError, MissingInputError

STEP = "tvl1"


@dataclass(frozen=True)
class TVL1Config:
    """Options of ``ufsn-data tvl1``."""

    root: Path = Path("data")
    dataset: str = "synthetic"
    params: TVL1Params = field(default_factory=TVL1Params)
    bound: float = DEFAULT_BOUND  # px; flow is clipped to +-bound and mapped onto 0..255
    format: FlowFormat = "jpg"
    quality: int = 95  # JPEG quality of the flow images
    device: Device = "cpu"
    impl: Impl = "opencv"
    batch: int = 0  # torch: pairs of one video computed at once; 0 = auto_batch(frame size, device)
    compile: bool = True  # torch: torch.compile the iteration (a one-off build per process, then ~2x OpenCV's speed)
    workers: int = 1
    backend: Backend = "local"
    scheduler: str | None = None
    force: bool = False

    def __post_init__(self) -> None:
        check_choices(self)
        if self.bound <= 0:
            raise ConfigError(f"bound must be positive, got {self.bound}")
        if self.batch < 0:
            raise ConfigError(f"batch must be positive (or 0 for auto), got {self.batch}")


def _settings_record(config: TVL1Config) -> dict:
    import cv2

    record = {k: v for k, v in asdict(config).items() if k not in ("root", "force", "params")}
    record["params"] = asdict(config.params)
    record["params_source"] = "OpenCV contrib cv::optflow::DualTVL1OpticalFlow (CPU) defaults unless overridden"
    record["opencv_version"] = cv2.__version__
    if config.impl == "torch":
        import torch

        record["torch_version"] = torch.__version__
    else:
        for key in ("batch", "compile"):  # torch-only settings
            record.pop(key)
    return record


def run_tvl1(config: TVL1Config, progress: bool = True) -> StepSummary:
    """TV-L1 flow for every frame folder of ``config.dataset``; resumes unless ``config.force``."""
    check_device(config.device, config.impl)
    if config.impl == "torch" and config.compile:
        check_compiler(config.device)
    paths = DatasetPaths(config.root, config.dataset)
    if not paths.frames.is_dir():
        raise MissingInputError(f"no frames folder {paths.frames}; run `ufsn-data extract` first")
    options = ParallelOptions(config.workers, config.backend, config.scheduler, progress)
    threads = max(1, usable_cpus() // config.workers) if config.backend == "local" else 1
    flows = {"opencv": opencv.video_flows, "torch": pytorch.video_flows}[config.impl]  # checked by TVL1Config
    settings = FlowSettings(flows, config.params, config.bound, config.format, config.quality, config.device,
                            config.batch, threads, config.compile)  # fmt: skip
    output_dir(paths.tvl1)
    # Records written before the implementation was a setting all came from OpenCV.
    record_settings(paths.tvl1 / SETTINGS_FILE, _settings_record(config), config.force, {"impl": "opencv"})
    remove_stale_temporaries(paths.tvl1)
    remove_stale_claims(paths.tvl1)
    extracted = read_manifest(paths.manifest_csv("extract"))
    folders = sorted(p for p in paths.frames.iterdir() if p.is_dir() and not is_temporary(p))
    manifest = paths.manifest_csv(STEP)
    previous = read_manifest(manifest)
    names = functools.partial(flow_names, ext=config.format)
    kept: dict[str, ManifestRow] = {}
    tasks = []
    for folder in folders:
        vid = folder.name
        out = paths.flow_dir(vid)
        if not config.force and is_done(previous.get(vid), out, names):
            kept[vid] = previous[vid]
            continue
        row = extracted.get(vid)
        expected = row.frames if row is not None and row.status == "done" else 0
        tasks.append(TVL1Task(vid, folder, expected, out, settings, planned_identity(out, previous.get(vid))))
    # Longest first: a long video dispatched last would leave the other workers idle.
    tasks.sort(key=lambda task: -sum(1 for _ in task.frames.iterdir()))
    current = {folder.name for folder in folders}
    others = {vid: row for vid, row in previous.items() if vid not in current}
    # Claims: a second run started on the same dataset does the videos this one has not reached.
    step = ClaimedStep(tvl1_video, names)
    return run_tasks(STEP, step, tasks, kept, manifest, options, others, then=step.waiting())
