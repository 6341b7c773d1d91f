"""Consecutive RGB frame pairs of a split, held in memory, with ground-truth flow where it is known.

Works before and after the frames / splits steps: video ids come from ``splits/split<k>.csv`` when it
exists, else from the dataset's group rule (``pipeline.steps.splits.group_subsets``: split k tests groups
7k-6..7k, validation = the last 2 train groups) applied to the video names; frames come from
``frames/<vid>/img_%05d.jpg`` when that folder exists, else the video is decoded (decord, ``pipeline.api.read_frames``).
Stage 1 on the synthetic set (a few hundred short clips) fits in memory many times over; for the
full UCF-101 use ``max_videos`` (a seeded subset) rather than all 9.5k training clips.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from pipeline.api import DatasetPaths, frame_name, read_frames
from ufsn.errors import InputError, MissingInputError
from ufsn.layout import chw

_GROUP = re.compile(r"_g(\d+)_c\d+$")


def list_videos(paths: DatasetPaths) -> dict[str, Path]:
    """video_id -> video file, for every ``videos/<Class>/<video>`` that extract would decode; {} without videos."""
    from pipeline.api import find_videos  # its VIDEO_EXTENSIONS: the same videos as the data steps

    return {p.stem: p for p in find_videos(paths.videos)} if paths.videos.is_dir() else {}


def split_videos(paths: DatasetPaths, split: int, subsets: tuple[str, ...]) -> list[str]:
    """Video ids of ``subsets`` of split ``split``: from the split CSV, else the group rule on names.

    Empty when videos exist but none falls in ``subsets`` (a split without val groups); raises when there
    are no videos at all."""
    csv_path = paths.split_csv(split)
    if csv_path.is_file():
        from pipeline.api import read_split

        return [row.video_id for row in read_split(csv_path, subsets)]
    from pipeline.api import group_subsets, load_definition

    definition = load_definition(paths)
    if definition.rule != "groups":  # UCF-style names without a definition of their own: UCF-101's rule
        definition = load_definition(DatasetPaths(paths.root, "ucf101"))
    subset_of = group_subsets(definition, split, val_groups=2)  # group -> train | val | test
    videos = list_videos(paths)
    if not videos:
        raise MissingInputError(
            f"no {'+'.join(subsets)} videos for split {split}: no split file {csv_path} and no videos under "
            f"{paths.videos}; "
            f"run `ufsn-data all --root {paths.root} --dataset {paths.dataset}`"
        )
    ids = []
    for vid in videos:
        match = _GROUP.search(vid)
        if match is None:
            raise InputError(f"{paths.videos}: no split file {csv_path} and no _gNN_cNN group in {vid!r}")
        if subset_of.get(int(match.group(1))) in subsets:
            ids.append(vid)
    return ids


def load_frames(paths: DatasetPaths, video_id: str, videos: dict[str, Path] | None = None) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames of one video: the frame folder if present, else decoded with decord."""
    folder = paths.frame_dir(video_id)
    if folder.is_dir():
        import cv2

        frames, i = [], 1
        while (folder / frame_name(i)).is_file():
            bgr = cv2.imread(str(folder / frame_name(i)), cv2.IMREAD_COLOR)
            if bgr is None:
                raise InputError(f"unreadable frame {folder / frame_name(i)}")
            frames.append(bgr[:, :, ::-1])
            i += 1
        if len(frames) < 2:
            raise InputError(f"{folder}: fewer than 2 frames")
        return np.stack(frames)  # (T, H, W, 3)
    videos = videos if videos is not None else list_videos(paths)
    if video_id not in videos:
        raise MissingInputError(f"no frames folder {folder} and no video {video_id}.* under {paths.videos}")
    return read_frames(videos[video_id])  # (T, H, W, 3) RGB


class PairBank(NamedTuple):
    """Frames of many equally sized videos and, when known, their ground-truth flow (``flow_gt/<video_id>.npz``)."""

    video_ids: list[str]
    frames: torch.Tensor  # (V, T, 3, H, W) uint8
    flow: torch.Tensor | None  # (V, T-1, 2, H, W) float16 px, or None without ground truth
    occluded: torch.Tensor | None  # (V, T-1, H, W) bool

    @property
    def pairs(self) -> int:
        return self.frames.shape[0] * (self.frames.shape[1] - 1)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Pairs by flat index ``v * (T-1) + t``: img1, img2 (B, 3, H, W) in [0, 1], flow (B, 2, H, W), noc (B, 1, H, W)

        Without ground truth, flow is zeros and noc ones (callers check ``bank.flow is None``).
        """
        t_pairs = self.frames.shape[1] - 1
        v, t = index // t_pairs, index % t_pairs
        img1 = self.frames[v, t].float() / 255.0  # (B, 3, H, W)
        img2 = self.frames[v, t + 1].float() / 255.0  # (B, 3, H, W)
        if self.flow is None:
            b, _, h, w = img1.shape
            return img1, img2, img1.new_zeros(b, 2, h, w), img1.new_ones(b, 1, h, w)
        noc = (~self.occluded[v, t]).unsqueeze(1).float()  # (B, 1, H, W)
        return img1, img2, self.flow[v, t].float(), noc


def load_bank(paths: DatasetPaths, video_ids: list[str], with_gt: bool = True) -> PairBank:
    """Load every frame (and ground truth when all npz files exist) of ``video_ids`` into memory."""
    videos = list_videos(paths)
    clips = [load_frames(paths, vid, videos) for vid in video_ids]
    t = min(len(c) for c in clips)  # clips of one preset share T; guard against one decoder extra frame
    frames = chw(np.stack([c[:t] for c in clips])).contiguous()  # (V, T, 3, H, W) uint8
    gt_files = [paths.flow_gt_npz(vid) for vid in video_ids]
    if not with_gt or not all(f.is_file() for f in gt_files):
        return PairBank(list(video_ids), frames, None, None)
    flows, occs = [], []
    for f in gt_files:
        with np.load(f) as npz:
            flows.append(npz["flow"][: t - 1])  # (T-1, H, W, 2) float16
            occs.append(npz["occluded"][: t - 1])  # (T-1, H, W)
    flow = chw(np.stack(flows)).contiguous()  # (V, T-1, 2, H, W) float16
    return PairBank(list(video_ids), frames, flow, torch.from_numpy(np.stack(occs)))


class FloPair(NamedTuple):
    """One Middlebury-style pair folder: frame10.png, frame11.png, flow10.flo."""

    name: str
    img1: np.ndarray  # (H, W, 3) uint8 RGB
    img2: np.ndarray  # (H, W, 3) uint8 RGB
    flow: np.ndarray  # (H, W, 2) float32 px
    valid: np.ndarray  # (H, W) bool, False where the .flo says unknown (> 1e9)


def load_flo_pair(folder: Path) -> FloPair:
    """Read a pair folder (frame10.png, frame11.png, flow10.flo); names the missing file on failure."""
    import cv2

    from ufsn.flow.viz import read_flo

    folder = Path(folder)
    imgs = []
    for name in ("frame10.png", "frame11.png"):
        bgr = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        if bgr is None:
            raise MissingInputError(f"missing or unreadable {folder / name}")
        imgs.append(np.ascontiguousarray(bgr[:, :, ::-1]))
    flow = read_flo(folder / "flow10.flo")
    valid = np.all(np.abs(flow) < 1e9, axis=-1)
    return FloPair(folder.name, imgs[0], imgs[1], np.where(valid[..., None], flow, 0).astype(np.float32), valid)
