"""``ufsn-data tvl1``: frames -> Dual TV-L1 flow (OpenCV contrib or its PyTorch port), quantised images, resumable."""

from __future__ import annotations

import functools
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pipeline.parallel import ParallelOptions, run_tasks, usable_cpus
from pipeline.storage.atomic import atomic_dir, is_temporary
from pipeline.storage.claim import ClaimedStep, folder_identity, remove_stale_claims
from pipeline.storage.flowcode import DEFAULT_BOUND, quantize_flow
from pipeline.storage.manifest import ManifestRow, StepSummary, read_manifest
from pipeline.storage.paths import DatasetPaths, flow_names, frame_name
from pipeline.storage.resume import clean_temporaries, is_done, record_settings

STEP = "tvl1"
SETTINGS_FILE = "tvl1_config.json"
DEVICES = ("cpu", "cuda")
IMPLS = ("opencv", "torch")  # cv2.optflow / cv2.cuda, or pipeline.steps.tvl1_torch on any torch device
FORMATS = ("jpg", "png")
_FRAME_RE = re.compile(r"img_(\d{5,})\.jpg")


@dataclass(frozen=True)
class TVL1Params:
    """Dual TV-L1 parameters (Zach, Pock & Bischof 2007).

    Defaults are OpenCV's ``cv::optflow::DualTVL1OpticalFlow::create`` defaults, the community
    standard for action recognition (TSN / denseflow use them with bound 20). The CUDA class
    ``cv::cuda::OpticalFlowDual_TVL1`` has the same defaults except that it has one iteration
    count (300 = 30 inner x 10 outer by default, see ``cuda_iterations``) and no median filtering.
    """

    tau: float = 0.25  # time step of the numerical scheme
    lambda_: float = 0.15  # data-term weight: smaller = smoother flow
    theta: float = 0.3  # coupling between the two sub-problems
    nscales: int = 5  # pyramid levels
    warps: int = 5  # warpings per level
    epsilon: float = 0.01  # stopping threshold
    inner_iterations: int = 30  # CPU only
    outer_iterations: int = 10  # CPU only
    scale_step: float = 0.8  # pyramid downscale factor
    gamma: float = 0.0  # illumination-variation term weight (0 = off)
    median_filtering: int = 5  # CPU only: median filter size applied to the flow
    cuda_iterations: int | None = None  # CUDA only; None = inner x outer (300, CUDA's default)


def _cpu_algorithm(params: TVL1Params):
    import cv2

    return cv2.optflow.DualTVL1OpticalFlow_create(
        tau=params.tau,
        lambda_=params.lambda_,
        theta=params.theta,
        nscales=params.nscales,
        warps=params.warps,
        epsilon=params.epsilon,
        innnerIterations=params.inner_iterations,  # sic: OpenCV's keyword has three n's
        outerIterations=params.outer_iterations,
        scaleStep=params.scale_step,
        gamma=params.gamma,
        medianFiltering=params.median_filtering,
    )


def check_device(device: str, impl: str = "opencv") -> None:
    """Raise ``RuntimeError`` with what to do when ``device`` cannot run TV-L1 with this OpenCV (or torch)."""
    import cv2

    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(IMPLS)}, got {impl!r}")
    if impl == "torch":
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"--impl torch --device cuda: torch {torch.__version__} sees no CUDA device "
                f"(torch.cuda.is_available() is False; CUDA build: {torch.version.cuda or 'none'}). "
                "Install a CUDA build of torch on the GPU machine, or use --device cpu."
            )
        return
    if device == "cuda":
        cuda = getattr(cv2, "cuda", None)
        has_class = any(hasattr(cuda, n) for n in ("OpticalFlowDual_TVL1", "OpticalFlowDual_TVL1_create"))
        count = cv2.cuda.getCudaEnabledDeviceCount() if hasattr(cv2, "cuda") else 0
        if not has_class or count < 1:
            raise RuntimeError(
                f"--device cuda needs OpenCV built with CUDA and cudaoptflow; this OpenCV {cv2.__version__} "
                f"({Path(cv2.__file__).parent}) sees {count} CUDA device(s) and "
                f"{'has' if has_class else 'lacks'} cv2.cuda.OpticalFlowDual_TVL1. "
                "Build opencv-contrib with -DWITH_CUDA=ON, use --impl torch --device cuda (no OpenCV build "
                "needed), or use --device cpu."
            )


def compute_tvl1(
    gray0: np.ndarray, gray1: np.ndarray, params: TVL1Params = TVL1Params(), device: str = "cpu"
) -> np.ndarray:
    """Dual TV-L1 flow from ``gray0`` to ``gray1``.

    Args:
        gray0, gray1: (H, W) uint8 grey images of the same size.
        params: TV-L1 parameters.
        device: "cpu" (cv2.optflow) or "cuda" (cv2.cuda; needs an OpenCV build with CUDA).
    Returns:
        (H, W, 2) float32 flow in pixels; channel 0 = x (rightwards), 1 = y (downwards).
    """
    import cv2

    if gray0.shape != gray1.shape or gray0.ndim != 2:
        raise ValueError(f"need two (H, W) grey images of one size, got {gray0.shape} and {gray1.shape}")
    if device == "cpu":
        return _cpu_algorithm(params).calc(gray0, gray1, None)
    check_device(device)
    iterations = params.cuda_iterations or params.inner_iterations * params.outer_iterations
    create = getattr(cv2.cuda, "OpticalFlowDual_TVL1_create", None) or cv2.cuda.OpticalFlowDual_TVL1.create
    algo = create(
        params.tau, params.lambda_, params.theta, params.nscales, params.warps,
        params.epsilon, iterations, params.scale_step, params.gamma, False,
    )  # fmt: skip
    flow = algo.calc(cv2.cuda_GpuMat(gray0), cv2.cuda_GpuMat(gray1), None)
    return flow.download().astype(np.float32)  # (H, W, 2)


@dataclass(frozen=True)
class TVL1Config:
    """Options of ``ufsn-data tvl1``."""

    root: Path = Path("data")
    dataset: str = "synthetic"
    params: TVL1Params = field(default_factory=TVL1Params)
    bound: float = DEFAULT_BOUND  # px; flow is clipped to +-bound and mapped onto 0..255
    format: str = "jpg"  # jpg | png (png is lossless)
    quality: int = 95  # JPEG quality of the flow images
    device: str = "cpu"  # cpu | cuda
    impl: str = "opencv"  # opencv | torch (pipeline.steps.tvl1_torch)
    batch: int = 0  # torch: pairs of one video computed at once; 0 = auto_batch(frame size, device)
    compile: bool = True  # torch: torch.compile the iteration (a one-off build per process, then ~2x OpenCV's speed)
    workers: int = 1
    backend: str = "local"
    scheduler: str | None = None
    force: bool = False

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.bound <= 0:
            raise ValueError(f"bound must be positive, got {self.bound}")
        if self.impl not in IMPLS:
            raise ValueError(f"impl must be one of {', '.join(IMPLS)}, got {self.impl!r}")
        if self.batch < 0:
            raise ValueError(f"batch must be positive (or 0 for auto), got {self.batch}")


class FlowSettings(NamedTuple):
    params: TVL1Params
    bound: float
    format: str
    quality: int
    device: str
    impl: str = "opencv"
    batch: int = 0  # torch: pairs per call; 0 = auto_batch
    threads: int = 1  # torch: intra-op threads of one worker
    compile: bool = False  # torch: torch.compile the iteration


class TVL1Task(NamedTuple):
    video_id: str
    frames: Path  # the video's frame folder
    expected: int  # frame count from the extract manifest (0 = unknown)
    out: Path
    settings: FlowSettings
    seen: int = 0  # folder_identity(out) when planned: a concurrent run's finished folder has another


def list_frames(folder: Path, expected: int = 0) -> list[Path]:
    """The frames img_00001.jpg .. img_N.jpg of ``folder``; raises naming the first missing file."""
    indices = sorted(int(m.group(1)) for p in folder.iterdir() if (m := _FRAME_RE.fullmatch(p.name)))
    count = max(indices[-1] if indices else 0, expected)
    present = set(indices)
    for i in range(1, count + 1):
        if i not in present:
            raise FileNotFoundError(f"missing frame {folder / frame_name(i)} ({len(indices)} of {count} present)")
    return [folder / frame_name(i) for i in range(1, count + 1)]


def pair_files(index: int, ext: str) -> tuple[str, ...]:
    """File names that flow pair ``index`` (1-based) owns in a flow folder."""
    return flow_names(index, ext)


def _read_grey(path: Path) -> np.ndarray:
    import cv2

    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)  # (H, W) uint8; the JPEG's luma plane
    if grey is None:
        raise OSError(f"cannot read frame {path}")
    return grey


def _encode(code: np.ndarray, fmt: str, quality: int) -> bytes:
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, data = cv2.imencode(f".{fmt}", code, params)
    if not ok:
        raise RuntimeError(f"{fmt} encoding of a flow image failed")
    return data.tobytes()


# Pixels per torch call: on a CPU a 340x256 pair alone is fastest (ufsn-bench perf tvl1: batch 1 1.96x
# OpenCV's pairs/s, batch 4 1.13x), while 64x64 pairs gain from batching (per-iteration overhead);
# a GPU wants many pairs in flight.
AUTO_BATCH_PIXELS = {"cpu": 2**17, "cuda": 2**23}


def auto_batch(height: int, width: int, device: str) -> int:
    """Pairs per torch call for frames of ``height`` x ``width`` on ``device``."""
    return max(1, AUTO_BATCH_PIXELS[device] // (height * width))


def _video_flows(frames: list[Path], s: FlowSettings):
    """Yield (pair index from 1, (H, W, 2) flow) for consecutive frames; torch computes ``s.batch`` pairs at once."""
    if s.impl == "opencv":
        previous = _read_grey(frames[0])
        for index, path in enumerate(frames[1:], start=1):
            current = _read_grey(path)
            yield index, compute_tvl1(previous, current, s.params, s.device)  # (H, W, 2)
            previous = current
        return
    import torch

    from pipeline.steps.tvl1_torch import tvl1_flow_numpy

    torch.set_num_threads(s.threads)
    greys = [_read_grey(frames[0])]
    batch = s.batch or auto_batch(*greys[0].shape, s.device)
    for start in range(1, len(frames), batch):
        greys = greys[-1:] + [_read_grey(p) for p in frames[start : start + batch]]  # (batch + 1) frames
        if len({g.shape for g in greys}) > 1:
            raise ValueError(f"frames of {frames[0].parent} differ in size: {sorted({g.shape for g in greys})}")
        first, second = np.stack(greys[:-1]), np.stack(greys[1:])  # (b, H, W) uint8 each
        flows = tvl1_flow_numpy(first, second, s.params, s.device, s.compile)  # (b, H, W, 2)
        yield from enumerate(flows, start=start)


def tvl1_video(task: TVL1Task) -> ManifestRow:
    """TV-L1 of every consecutive frame pair of one video, written atomically; a 1-frame video is skipped."""
    start = time.perf_counter()
    s = task.settings
    try:
        frames = list_frames(task.frames, task.expected)
        if len(frames) < 2:
            shutil.rmtree(task.out, ignore_errors=True)
            return ManifestRow(
                task.video_id, "skipped", 0, time.perf_counter() - start, f"{len(frames)} frame: no flow pair"
            )
        with atomic_dir(task.out) as tmp:
            for index, flow in _video_flows(frames, s):
                x_name, y_name = flow_names(index, s.format)
                (tmp / x_name).write_bytes(_encode(quantize_flow(flow[..., 0], s.bound), s.format, s.quality))
                (tmp / y_name).write_bytes(_encode(quantize_flow(flow[..., 1], s.bound), s.format, s.quality))
    except BaseException:
        shutil.rmtree(task.out, ignore_errors=True)
        raise
    return ManifestRow(task.video_id, "done", len(frames) - 1, time.perf_counter() - start)


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
        from pipeline.steps.tvl1_torch import check_compiler

        check_compiler(config.device)
    paths = DatasetPaths(config.root, config.dataset)
    if not paths.frames.is_dir():
        raise FileNotFoundError(f"no frames folder {paths.frames}; run `ufsn-data extract` first")
    options = ParallelOptions(config.workers, config.backend, config.scheduler, progress)
    threads = max(1, usable_cpus() // config.workers) if config.backend == "local" else 1
    settings = FlowSettings(config.params, config.bound, config.format, config.quality, config.device,
                            config.impl, config.batch, threads, config.compile)  # fmt: skip
    paths.tvl1.mkdir(parents=True, exist_ok=True)
    # Records written before the implementation was a setting all came from OpenCV.
    record_settings(paths.tvl1 / SETTINGS_FILE, _settings_record(config), config.force, {"impl": "opencv"})
    clean_temporaries(paths.tvl1)
    remove_stale_claims(paths.tvl1)
    extracted = read_manifest(paths.manifest_csv("extract"))
    folders = sorted(p for p in paths.frames.iterdir() if p.is_dir() and not is_temporary(p))
    manifest = paths.manifest_csv(STEP)
    previous = read_manifest(manifest)
    names = lambda i: pair_files(i, config.format)  # noqa: E731
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
        tasks.append(TVL1Task(vid, folder, expected, out, settings, folder_identity(out)))
    # Longest first: a long video dispatched last would leave the other workers idle.
    tasks.sort(key=lambda task: -sum(1 for _ in task.frames.iterdir()))
    current = {folder.name for folder in folders}
    others = {vid: row for vid, row in previous.items() if vid not in current}
    # Claims: a second run started on the same dataset does the videos this one has not reached.
    step = ClaimedStep(tvl1_video, functools.partial(pair_files, ext=config.format))
    return run_tasks(STEP, step, tasks, kept, manifest, options, others, then=step.waiting())
