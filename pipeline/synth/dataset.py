"""``ufsn-data synth``: write the synthetic dataset (videos, exact flow, classes.csv)."""

from __future__ import annotations

import csv
import io
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pipeline.storage.atomic import atomic_write_bytes, atomic_write_text, output_dir, remove_stale_temporaries
from pipeline.storage.paths import DatasetPaths
from pipeline.synth.sample import sample_scene
from pipeline.synth.scene import MOTIONS, camel, family, pair_flow, render
from ufsn.errors import ConfigError

DATASET = "synthetic"
FPS = 25
GROUPS = 25  # UCF-101 naming: groups g01..g25


@dataclass(frozen=True)
class SynthConfig:
    """Options of ``ufsn-data synth``."""

    root: Path = Path("data")
    families: int = 4  # appearance families (shape + texture + palette)
    motions: int = 3  # motion patterns per family
    groups: int = GROUPS  # groups per class, as UCF-101's g01..g25
    clips: int = 2  # clips per group
    frames: int = 8  # frames per clip: 7 pairs hold TSN's 5-pair flow stacks at 3 offsets
    width: int = 64
    height: int = 64
    max_motion: float = 10.0  # largest actor speed, px/frame (log-uniform from 1): where coarse-to-fine matters
    seed: int = 0
    workers: int = 1
    quality: int = 95  # MJPG quality
    force: bool = False  # re-render clips that already exist


PRESETS: dict[str, SynthConfig] = {
    "tiny": SynthConfig(families=2, motions=2, clips=1),
    # 4 clips per group: split 1 tests 7 of 25 groups = 336 clips, a 95% interval of +-3.8 points at 85%
    "demo": SynthConfig(families=4, motions=3, clips=4),
    "full": SynthConfig(families=6, motions=4, clips=4, frames=32, width=160, height=128),
}


def preset(name: str, **overrides) -> SynthConfig:
    """The preset ``name`` with ``overrides`` (None values ignored) applied."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


class SynthClass(NamedTuple):
    index: int
    name: str
    family: str
    motion: str


def class_table(families: int, motions: int) -> list[SynthClass]:
    """Classes = families x motions; family f uses motions rotated by f*motions through MOTIONS."""
    if motions > len(MOTIONS):
        raise ConfigError(f"at most {len(MOTIONS)} motions per family, asked for {motions}")
    if families < 1 or motions < 1:
        raise ConfigError("need at least one family and one motion")
    classes = []
    for f in range(families):
        fam = family(f)
        for m in range(motions):
            motion = MOTIONS[(f * motions + m) % len(MOTIONS)]
            classes.append(SynthClass(len(classes), fam.name + camel(motion), fam.name, motion))
    return classes


def video_id(class_name: str, group: int, clip: int) -> str:
    """UCF-101 style id, e.g. ``v_DiscStripesZoomIn_g01_c01`` (group and clip 1-based)."""
    return f"v_{class_name}_g{group:02d}_c{clip:02d}"


class RenderedClip(NamedTuple):
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    flow: np.ndarray  # (T-1, H, W, 2) float32 px
    occluded: np.ndarray  # (T-1, H, W) bool


def render_clip(config: SynthConfig, cls: SynthClass, group: int, clip: int) -> RenderedClip:
    """Render one clip deterministically from (seed, class, group, clip)."""
    rng = np.random.default_rng([config.seed, cls.index, group, clip])
    fam_index = cls.index // config.motions
    scene = sample_scene(rng, family(fam_index), cls.motion, config.width, config.height, config.max_motion)
    images, layers = zip(*(render(scene, t) for t in range(config.frames)), strict=True)
    frames = np.stack([np.rint(im).astype(np.uint8) for im in images])
    flows, occl = zip(*(pair_flow(scene, t, layers[t], layers[t + 1]) for t in range(config.frames - 1)), strict=True)
    return RenderedClip(frames, np.stack(flows).astype(np.float32), np.stack(occl))


def _write_avi(path: Path, frames: np.ndarray, quality: int) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}-.avi")  # the container is chosen by extension
    height, width = frames.shape[1:3]
    # OpenCV's own MJPEG writer honours the quality property (the FFmpeg backend ignores it).
    writer = cv2.VideoWriter(str(tmp), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), FPS, (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write MJPG AVI at {tmp}")
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, quality)
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))  # OpenCV wants BGR
    writer.release()
    os.replace(tmp, path)


def _npz_bytes(flow: np.ndarray, occluded: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, flow=flow.astype(np.float16), occluded=occluded)
    return buffer.getvalue()


class ClipJob(NamedTuple):
    cls: SynthClass
    group: int
    clip: int


def write_clip(config: SynthConfig, job: ClipJob) -> str:
    """Render and write one clip (flow first, video last, so the video marks completion)."""
    paths = DatasetPaths(config.root, DATASET)
    vid = video_id(job.cls.name, job.group, job.clip)
    avi = paths.videos / job.cls.name / f"{vid}.avi"
    npz = paths.flow_gt_npz(vid)
    if not config.force and avi.exists() and npz.exists():
        return vid
    clip = render_clip(config, job.cls, job.group, job.clip)
    atomic_write_bytes(npz, _npz_bytes(clip.flow, clip.occluded))
    _write_avi(avi, clip.frames, config.quality)
    return vid


def _classes_csv(classes: list[SynthClass]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "name", "family", "motion"])
    writer.writerows(classes)
    return buffer.getvalue()


class SynthSummary(NamedTuple):
    classes: int
    videos: int
    frames_per_video: int
    size: tuple[int, int]
    seconds: float
    bytes_on_disk: int
    folder: Path


def run_synth(config: SynthConfig, progress: bool = True) -> SynthSummary:
    """Write the synthetic dataset under ``config.root/synthetic``; resumes unless ``force``."""
    from joblib import Parallel, delayed

    from pipeline.progress import progress_bar

    if config.groups < 1 or config.groups > 99 or config.clips < 1 or config.clips > 99:
        raise ConfigError("groups and clips must be between 1 and 99")
    if config.frames < 2:
        raise ConfigError(f"frames must be at least 2 (a flow pair), got {config.frames}")
    start = time.perf_counter()
    paths = DatasetPaths(config.root, DATASET)
    classes = class_table(config.families, config.motions)
    output_dir(paths.base)
    atomic_write_text(paths.classes_csv, _classes_csv(classes))
    for folder in [paths.flow_gt, *(paths.videos / c.name for c in classes)]:
        remove_stale_temporaries(folder)
    jobs = [ClipJob(c, g, k) for c in classes for g in range(1, config.groups + 1) for k in range(1, config.clips + 1)]
    bar = progress_bar(total=len(jobs), unit="video", desc="synth", enabled=progress)
    results = Parallel(n_jobs=config.workers, return_as="generator_unordered")(
        delayed(write_clip)(config, job) for job in jobs
    )
    for _ in results:
        bar.update(1)
    bar.close()
    size = sum(p.stat().st_size for p in paths.base.rglob("*") if p.is_file())
    return SynthSummary(
        classes=len(classes),
        videos=len(jobs),
        frames_per_video=config.frames,
        size=(config.width, config.height),
        seconds=time.perf_counter() - start,
        bytes_on_disk=size,
        folder=paths.base,
    )
