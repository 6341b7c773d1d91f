"""Stage 1's data: every consecutive frame pair of every video, read one pair at a time.

Nothing is held in memory but one int per video (its frame count): an item reads two frames from the
frame folders, the HDF5 shards or, when neither exists, the video itself, and the ground-truth flow
of that pair when the dataset has it (the synthetic set). Cropping, flips and photometric jitter run
in the item too, so DataLoader workers do them; each item's draws come from its own generator seeded
by (seed, draw number), so a run's pairs and crops depend on the seed and the position in the pair
stream only, not on the number of workers or processes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch

from pipeline.api import DatasetPaths, FolderReader, ShardReader, frame_count, read_frames
from ufsn.errors import InputError, MissingInputError
from ufsn.flow.augment import geometric, mean_abs_difference, photometric
from ufsn.layout import chw

FrameSource = Literal["frames", "shards", "videos"]
REDRAWS = 8  # still pairs redrawn at most this often per item, then the last one is kept (a still video ends)


class PairSample(NamedTuple):
    """One pair (a batch of them after DataLoader's collation adds a leading B)."""

    img1: torch.Tensor  # (3, H, W) RGB in [0, 1]
    img2: torch.Tensor  # (3, H, W)
    flow: torch.Tensor  # (2, H, W) px, ground truth; zeros when the dataset has none
    noc: torch.Tensor  # (1, H, W) 1 where the pixel stays visible; ones without ground truth


@dataclass(frozen=True)
class PairAugment:
    """Training augmentation of a pair (``ufsn.flow.augment``)."""

    crop: tuple[int, int] | None = (96, 96)  # random crop (H, W); None keeps the whole frame
    motion_crops: bool = False  # crop where the frame difference is large
    photometric: float = 0.2  # brightness / contrast / colour / gamma jitter strength (0 = off)
    min_difference: float = 0.0  # redraw pairs whose mean |I1 - I2| (0..255) is below this (still frames); 0 = off


class VideoFrames:
    """RGB frames of a dataset's videos from one source; frame counts are read once, here."""

    def __init__(self, paths: DatasetPaths, video_ids: Sequence[str], source: FrameSource):
        self.paths, self.source, self.video_ids = paths, source, list(video_ids)
        self._videos: dict[str, Path] = {}
        if source == "frames":
            self._reader = FolderReader(paths.root, paths.dataset)
            counts = [self._reader.num_frames(v) for v in self.video_ids]
        elif source == "shards":
            self._reader = ShardReader(paths.shards, self.video_ids)
            counts = [self._reader.num_frames(v) for v in self.video_ids]
        else:
            from ufsn.flow.data import list_videos

            found = list_videos(paths)
            missing = [v for v in self.video_ids if v not in found]
            if missing:
                raise MissingInputError(
                    f"no frames folder, shard entry or video under {paths.videos} for {missing[:3]}"
                )
            self._videos = {v: found[v] for v in self.video_ids}
            counts = [frame_count(self._videos[v]) for v in self.video_ids]
        self.counts = np.asarray(counts, dtype=np.int64)  # (V,) frames per video
        short = [v for v, n in zip(self.video_ids, counts, strict=True) if n < 2]
        if short:
            raise InputError(f"{len(short)} videos have fewer than 2 frames in the {source}, e.g. {short[:3]}")

    def read_pair(self, index: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames t and t+1 (0-based) of video ``index``: (H, W, 3) uint8 RGB each."""
        vid = self.video_ids[index]
        if self.source == "videos":
            batch = read_frames(self._videos[vid], [t, t + 1])  # (2, H, W, 3)
            return batch[0], batch[1]
        import cv2

        blobs = self._reader.read_rgb(vid, t, 2)
        first, second = (cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in blobs)
        if first is None or second is None:
            raise InputError(f"unreadable frame {t + 1} or {t + 2} of {vid} in the {self.source}")
        return first[..., ::-1], second[..., ::-1]


def frame_source(paths: DatasetPaths, video_ids: Sequence[str]) -> FrameSource:
    """Where every one of ``video_ids`` has its frames: frame folders, else shards, else the videos."""
    if all(paths.frame_dir(v).is_dir() for v in video_ids):
        return "frames"
    index = paths.shards / "index.csv"
    if index.is_file():
        from pipeline.readers.shard import read_index

        listed = {row.video_id for row in read_index(index)}
        if all(v in listed for v in video_ids):
            return "shards"
    return "videos"


def _float_chw(image: np.ndarray) -> torch.Tensor:
    """(H, W, C) array -> contiguous (C, H, W) float32 tensor."""
    return chw(image).contiguous().float()


class PairDataset(torch.utils.data.Dataset):
    """Every pair (t, t+1) of every video: item ``i`` is pair ``i - offset[v]`` of video ``v``.

    Indexed by an int (the pair, unaugmented) or by ``(pair, draw)`` from :class:`PairStream`: ``draw``,
    the pair's position in the training stream, seeds that item's augmentation.
    """

    def __init__(self, frames: VideoFrames, *, ground_truth: bool, augment: PairAugment | None = None,
                 seed: int = 0):  # fmt: skip
        self.frames, self.augment, self.seed = frames, augment, seed
        self.offsets = np.concatenate([[0], np.cumsum(frames.counts - 1)])  # (V+1,) first pair of each video
        gt = [frames.paths.flow_gt_npz(v) for v in frames.video_ids]
        self.ground_truth = ground_truth and all(f.is_file() for f in gt)
        self._last_gt: tuple[int, np.ndarray, np.ndarray] | None = None  # per process: pairs of one video in a row

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(video position, pair t) of pair ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"pair {index} of {len(self)}")
        v = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return v, index - int(self.offsets[v])

    def _truth(self, v: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Ground-truth flow (H, W, 2) float32 and occlusion (H, W) bool of pair t of video v."""
        if self._last_gt is None or self._last_gt[0] != v:
            path = self.frames.paths.flow_gt_npz(self.frames.video_ids[v])
            try:
                with np.load(path) as npz:
                    self._last_gt = (v, npz["flow"], npz["occluded"])  # (T-1, H, W, 2) float16, (T-1, H, W)
            except (OSError, KeyError, ValueError) as exc:
                raise InputError(f"{path}: unreadable ground-truth flow ({exc})") from exc
        _, flow, occluded = self._last_gt
        if t >= len(flow):
            raise InputError(
                f"{self.frames.paths.flow_gt_npz(self.frames.video_ids[v])}: no pair {t} ({len(flow)} pairs)"
            )
        return flow[t].astype(np.float32), occluded[t]

    def _moving_pair(self, v: int, t: int, first: np.ndarray, second: np.ndarray, draw: int):
        """While the pair is still (mean |I1 - I2| below ``min_difference``), replace it with a pair drawn by
        the item's own seed, at most REDRAWS times; returns (video position, t, frame 1, frame 2)."""
        rng = np.random.default_rng([self.seed, draw, 1])  # apart from the augmentation's generator
        for _ in range(REDRAWS):
            if mean_abs_difference(first, second) >= self.augment.min_difference:
                break
            v, t = self.locate(int(rng.integers(len(self))))
            first, second = self.frames.read_pair(v, t)
        return v, t, first, second

    def __getitem__(self, key: int | tuple[int, int]) -> PairSample:
        index, draw = (key, None) if isinstance(key, int | np.integer) else key
        v, t = self.locate(int(index))
        first, second = self.frames.read_pair(v, t)
        if self.augment is not None and draw is not None and self.augment.min_difference > 0:
            v, t, first, second = self._moving_pair(v, t, first, second, int(draw))
        img1, img2 = _float_chw(first) / 255.0, _float_chw(second) / 255.0  # (3, H, W) each
        if self.ground_truth:
            gt, occluded = self._truth(v, t)
            flow, noc = _float_chw(gt), _float_chw((~occluded)[..., None].astype(np.float32))  # (2|1, H, W)
        else:
            flow, noc = img1.new_zeros(2, *img1.shape[1:]), img1.new_ones(1, *img1.shape[1:])
        if self.augment is None or draw is None:
            return PairSample(img1, img2, flow, noc)
        gen = torch.Generator().manual_seed(item_seed(self.seed, int(draw)))
        aug = self.augment
        a1, a2, af, an = geometric(img1[None], img2[None], flow[None], noc[None], gen, aug.crop, aug.motion_crops)
        if aug.photometric > 0:
            a1, a2 = photometric(a1, a2, gen, aug.photometric)
        return PairSample(a1[0], a2[0], af[0], an[0])


def item_seed(seed: int, draw: int) -> int:
    """The augmentation seed of the ``draw``-th pair of a run seeded ``seed`` (independent streams per draw)."""
    return int(np.random.SeedSequence([seed, draw]).generate_state(1, np.uint64)[0] >> 1)


class PairStream(torch.utils.data.Sampler):
    """This rank's endless share of the training pair stream, as ``(pair, draw)`` keys.

    The stream is one seeded permutation of all pairs per epoch, back to back; step s takes draws
    ``[s * B, (s + 1) * B)`` of it (B = ``batch`` x ``world_size``), rank r the r-th block of ``batch``.
    So the global batch of a step is the same for any world size, and a resumed run starts at
    ``start`` (draws already taken, in the checkpoint) where the interrupted one stopped.
    """

    def __init__(self, pairs: int, *, batch: int, rank: int = 0, world_size: int = 1, seed: int = 0, start: int = 0):
        if pairs < 1:
            raise InputError("the pair stream needs at least one pair")
        self.pairs, self.batch, self.rank, self.world_size = pairs, batch, rank, world_size
        self.seed, self.start = seed, start

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.pairs)  # (pairs,)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        global_batch = self.batch * self.world_size
        step_start = self.start
        epoch, order = -1, np.empty(0, np.int64)
        while True:
            for j in range(self.batch):
                draw = step_start + self.rank * self.batch + j
                e, k = divmod(draw, self.pairs)
                if e != epoch:
                    epoch, order = e, self._permutation(e)
                yield int(order[k]), draw
            step_start += global_batch


def pair_dataset(root: Path, dataset: str, video_ids: Sequence[str], *, augment: PairAugment | None = None,
                 seed: int = 0, ground_truth: bool = True) -> PairDataset:  # fmt: skip
    """The PairDataset of ``video_ids`` from wherever their frames are (:func:`frame_source`)."""
    paths = DatasetPaths(Path(root), dataset)
    frames = VideoFrames(paths, video_ids, frame_source(paths, video_ids))
    return PairDataset(frames, ground_truth=ground_truth, augment=augment, seed=seed)


def evenly_spaced(dataset: PairDataset, count: int) -> list[int]:
    """``count`` pair indices spread over the whole dataset (every class, not the first videos)."""
    n = len(dataset)
    return torch.linspace(0, n - 1, min(count, n)).round().long().tolist()
