"""Stage 1 on real video: train the estimator unsupervised on the real UCF-101 / HMDB-51 clips, then judge it
against OpenCV TV-L1, DIS and zero flow on held-out real frame pairs (warping residuals, no ground truth) and on
the real ground-truth pairs (Middlebury, KITTI, FlyingChairs: EPE and Fl-all) as a cross-domain check.

Each clip is held out by time: training reads the first three quarters of every clip's frames, the residuals
are measured on the last quarter, and no pair spans the cut. Holding out whole clips instead left training
with the three clips that hardly move (in most of their pairs under 1% of the pixels move by 0.5 px or more
under TV-L1) and the estimator learned zero flow; the held-out clip with camera motion had nothing like it
in training.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ufsn.errors import ConfigError, InputError, MissingInputError

DATASET = "realclips"
# (source folder in realdata, video id, class): every clip gives a training part and a held-out part.
CLIPS = (
    ("ucf101_videos", "v_ApplyEyeMakeup_g01_c01", "ApplyEyeMakeup"),
    ("ucf101_videos", "v_BaseballPitch_g01_c01", "BaseballPitch"),
    ("ucf101_videos", "v_Basketball_g01_c01", "Basketball"),
    ("hmdb51_videos", "April_09_brush_hair_u_nm_np1_ba_goo_0", "brush_hair"),
    ("hmdb51_videos",
     "Increase_stride_length_by_running_stairs__working_step_over_action_speed_development_climb_stairs_f_cm_np1_le_med_1",
     "climb_stairs"),
)  # fmt: skip
TRAIN_SHARE = 0.75  # the first 3/4 of a clip's frames train, the rest are held out (pairs within each part only)
PARTS = {"train": "__train", "test": "__heldout"}  # subset -> suffix of the part's frame folder (its video id)
GT_GROUPS = {  # benchmark -> folders of ../shared/realdata/flow_gt
    "middlebury": ("middlebury_Dimetrodon", "middlebury_Hydrangea", "middlebury_RubberWhale", "middlebury_Venus"),
    "kitti": ("kitti_example",),
    "chairs": ("flyingchairs_flownet2",),
}
RUN = "flow-full-split1"


@dataclass(frozen=True)
class RealFlowConfig:
    """Options of ``ufsn-bench real-flow``."""

    realdata: Path  # ../shared/realdata: the clips and the ground-truth pairs
    root: Path = Path("data")  # data root; the clips become <root>/realclips
    results: Path = Path("results")  # tables go to <results>/realclips/
    config: str = "flow_realvideo"  # stage-1 config (bench/configs name or path)
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE on the stage-1 config
    steps: int | None = None  # override the config's steps
    compare: tuple[tuple[str, Path], ...] = ()  # more (label, stage-1 checkpoint) estimators, e.g. the demo's
    max_pairs: int = 120  # held-out pairs, evenly spaced over the held-out clips
    benchmarks: tuple[str, ...] = tuple(GT_GROUPS)  # ground-truth groups scored (all three by default)
    threads: int = 2
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(set(self.benchmarks) - set(GT_GROUPS))
        if unknown:
            raise ConfigError(f"unknown benchmark {unknown[0]!r}; valid: {', '.join(GT_GROUPS)}")


def prepare_clips(config: RealFlowConfig) -> Path:
    """Copy the clips into ``<root>/realclips/videos/<Class>/``, extract native-size frames, cut each clip's
    frames into a training part and a held-out part (hard links), write split 1 over the parts."""
    from pipeline.steps.extract import ExtractConfig, run_extract
    from pipeline.storage.atomic import atomic_write_text
    from pipeline.storage.paths import DatasetPaths

    paths = DatasetPaths(Path(config.root), DATASET)
    for folder, vid, cls in CLIPS:
        source = Path(config.realdata) / folder / f"{vid}.avi"
        if not source.is_file():
            raise MissingInputError(f"missing real clip {source}")
        target = paths.videos / cls / source.name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    summary = run_extract(ExtractConfig(root=Path(config.root), dataset=DATASET, native=True, workers=2),
                          progress=config.progress)  # fmt: skip
    if summary.failed:
        raise RuntimeError(f"frame extraction failed for {summary.failed} clip(s); see {summary.manifest}")
    classes = sorted(cls for *_, cls in CLIPS)
    lines = ["video_id,label,class,subset"]
    for _, vid, cls in CLIPS:
        for subset, frames in time_parts(sorted((paths.frames / vid).glob("img_*.jpg"))).items():
            part = vid + PARTS[subset]
            link_frames(frames, paths.frames / part)
            lines.append(f"{part},{classes.index(cls)},{cls},{subset}")
    paths.splits.mkdir(parents=True, exist_ok=True)
    atomic_write_text(paths.split_csv(1), "\n".join(lines) + "\n")
    return paths.base


def time_parts(frames: list[Path]) -> dict[str, list[Path]]:
    """A clip's frames (in order) -> {"train": the first TRAIN_SHARE of them, "test": the rest}."""
    cut = round(len(frames) * TRAIN_SHARE)
    if cut < 2 or len(frames) - cut < 2:
        raise InputError(f"{frames[0].parent if frames else 'a clip'}: {len(frames)} frames, too few to cut "
                         f"into two parts of at least 2 frames")  # fmt: skip
    return {"train": frames[:cut], "test": frames[cut:]}


def link_frames(frames: list[Path], folder: Path) -> None:
    """``folder``/img_00001.jpg... as hard links to ``frames`` (copies where links are refused), written into
    place atomically; a folder already there is kept."""
    from pipeline.steps.adopt import place
    from pipeline.storage.atomic import atomic_dir
    from pipeline.storage.paths import frame_name

    if folder.is_dir():
        return
    with atomic_dir(folder) as temporary:
        for i, frame in enumerate(frames, start=1):
            place(frame, temporary / frame_name(i), "auto")


def train_estimator(config: RealFlowConfig):
    """Stage 1 on the training clips (resumes a run cut short; a finished run is kept)."""
    from bench.runs import CHECKPOINT, RECORD, load_record, run_dir
    from bench.stage1 import load_flow_config, train_flow_run

    folder = run_dir(config.root, DATASET, RUN)
    if (folder / RECORD).is_file():
        return load_record(folder)
    cfg = load_flow_config(config.config, config.overrides, root=str(config.root), dataset=DATASET, split=1,
                           steps=config.steps, threads=config.threads, device=config.device)  # fmt: skip
    return train_flow_run(cfg, name=RUN, resume=(folder / CHECKPOINT).is_file(), progress=config.progress)


def held_out_pairs(root: Path, max_pairs: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Up to ``max_pairs`` consecutive-frame pairs (H, W, 3) uint8 RGB, evenly spaced over the held-out parts."""
    import cv2

    from pipeline.storage.paths import frame_name

    frames = Path(root) / DATASET / "frames"
    pairs = [(folder, i) for _, vid, _ in CLIPS for folder in [frames / (vid + PARTS["test"])]
             for i in range(1, len(list(folder.glob("img_*.jpg"))))]  # fmt: skip
    pick = np.linspace(0, len(pairs) - 1, min(max_pairs, len(pairs))).round().astype(int)

    def rgb(path: Path) -> np.ndarray:
        return np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1])

    return [(rgb(f / frame_name(i)), rgb(f / frame_name(i + 1))) for f, i in (pairs[k] for k in pick)]


def estimators(config: RealFlowConfig, checkpoint: Path) -> dict[str, Callable]:
    """Method label -> function (list of (img1, img2) RGB pairs) -> iterator of (H, W, 2) flows."""
    import torch

    from ufsn.distributed import pick_device
    from ufsn.flow.evaluate import PairSet, classical_flows, uf_flows
    from ufsn.flow.train import load_estimator

    device = pick_device(config.device)
    torch.set_num_threads(config.threads)

    def as_set(pairs) -> PairSet:
        return PairSet([a for a, _ in pairs], [b for _, b in pairs], [], [], None)

    def net_flows(path: Path):
        net = load_estimator(path, device)
        return lambda pairs: uf_flows(net, as_set(pairs), device)

    methods = {"UF (trained on the real clips)": net_flows(checkpoint)}
    methods.update({label: net_flows(Path(path)) for label, path in config.compare})
    labels = {"tvl1": "TV-L1 (OpenCV)", "dis": "DIS (OpenCV, medium)"}
    methods.update({labels[n]: (lambda pairs, n=n: classical_flows(n, as_set(pairs), config.threads)) for n in labels})
    methods["zero flow"] = lambda pairs: (np.zeros((*a.shape[:2], 2), np.float32) for a, _ in pairs)
    return methods


def warping_table(methods: dict[str, Callable], pairs: list[tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Photometric and census residuals after warping, per method, with 95% bootstrap half-widths over pairs."""
    from ufsn.flow.warp_errors import warp_error_sums
    from ufsn.intervals import bootstrap_ratio_interval
    from ufsn.layout import chw, unit_rgb

    rows = []
    for label, flows in methods.items():
        sums = np.array(
            [
                warp_error_sums(unit_rgb(a)[None], unit_rgb(b)[None], chw(f)[None])
                for (a, b), f in zip(pairs, flows(pairs), strict=True)
            ]
        )  # fmt: skip  (pairs, 4)
        photo, census = (bootstrap_ratio_interval(sums[:, i], sums[:, i + 1]) for i in (0, 2))
        rows.append({"method": label, "pairs": len(pairs),
                     "photometric": sums[:, 0].sum() / sums[:, 1].sum(), "photometric_ci95": photo.half_width,
                     "census": sums[:, 2].sum() / sums[:, 3].sum(), "census_ci95": census.half_width})  # fmt: skip
    return pd.DataFrame(rows)


def ground_truth_table(methods: dict[str, Callable], realdata: Path,
                       benchmarks: tuple[str, ...] = tuple(GT_GROUPS)) -> pd.DataFrame:  # fmt: skip
    """EPE (with its 95% half-width) and Fl-all per benchmark and method on the real ground-truth pairs."""
    from ufsn.flow.evaluate import accuracy, folder_pairs

    rows = []
    for benchmark in benchmarks:
        folders = GT_GROUPS[benchmark]
        pairs = folder_pairs([Path(realdata) / "flow_gt" / f for f in folders])
        items = list(zip(pairs.img1, pairs.img2, strict=True))
        for label, flows in methods.items():
            s = accuracy(flows(items), pairs).summary()
            rows.append({"benchmark": benchmark, "method": label, "pairs": len(items), "epe": s.epe,
                         "epe_ci95": s.epe_ci95, "fl_all": s.fl_all, "outlier_3px": s.outlier_3px})  # fmt: skip
    return pd.DataFrame(rows)


def run_real_flow(config: RealFlowConfig) -> Iterator[tuple[str, object]]:
    """Prepare, train, evaluate; yields (what, result) as each part finishes, tables last.

    Under torchrun rank 0 alone prepares the clips, scores the methods and writes the tables; every rank trains
    stage 1 (DDP) and gets rank 0's results, or its error.
    """
    from ufsn.distributed import init_distributed, on_main

    init_distributed(config.device)
    yield "frames", on_main(lambda: prepare_clips(config))
    yield "stage 1", train_estimator(config)
    warping, truth = on_main(lambda: score_and_write(config))
    yield "warping", warping
    yield "ground truth", truth


def score_and_write(config: RealFlowConfig):
    """Both tables, each as (table, written paths): warping residuals on the held-out pairs, then EPE / Fl-all."""
    from bench.runs import CHECKPOINT, run_dir
    from bench.tables import write_table

    methods = estimators(config, run_dir(config.root, DATASET, RUN) / CHECKPOINT)
    out = Path(config.results) / DATASET
    out.mkdir(parents=True, exist_ok=True)
    pairs = held_out_pairs(config.root, config.max_pairs)
    warping = warping_table(methods, pairs)
    caption = (
        f"Residuals after warping on {len(pairs)} held-out real frame pairs (the last quarter of each of the five "
        "UCF-101 / HMDB-51 clips, native size): photometric |I1 - I2(x+f)| on 0..255, soft census distance"
    )
    written = (warping, write_table(warping, out, "warping", caption))
    truth = ground_truth_table(methods, config.realdata, config.benchmarks)
    caption = "EPE (px) and Fl-all on the real ground-truth pairs (Middlebury 4, KITTI 1, FlyingChairs 2)"
    return written, (truth, write_table(truth, out, "ground_truth", caption))
