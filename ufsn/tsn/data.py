"""Torch Datasets of TSN clips over HDF5 shards or frame folders (one interface, two readers).

A reader (``pipeline.readers.shard.ShardReader`` or ``pipeline.readers.folder.FolderReader``)
supplies JPEG bytes; this module samples snippets (ufsn.tsn.sampling), decodes, crops and flips
(ufsn.tsn.transforms) and returns one sample dict per video. Readers open files lazily in each
DataLoader worker, so a Dataset can be built in the parent and forked safely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from pipeline.api import DatasetPaths, FolderReader, ShardReader, code_to_input, read_split
from ufsn.choices import check_choices
from ufsn.errors import ConfigError, InputError
from ufsn.layout import chw
from ufsn.tsn.sampling import Modality, Mode, snippet_indices, train_offsets, uniform_offsets
from ufsn.tsn.transforms import (
    TSN_SCALES,
    center_box,
    crop_resize,
    five_boxes,
    hflip,
    multiscale_box,
    normalize_rgb,
    resize_short_side,
)


@dataclass(frozen=True)
class ClipConfig:
    """How clips are sampled and augmented (defaults: TSN training on RGB)."""

    modality: Modality = "rgb"  # rgb (1 frame) | flow (L stacked TV-L1 pairs) | rgbpair (L+1 RGB frames)
    mode: Mode = "train"  # train: random snippet per segment + augmentation; val: K centred; test: N uniform
    segments: int = 3  # K, TSN's segments (train and val)
    new_length: int = 5  # L, flow pairs per snippet (flow, rgbpair)
    test_snippets: int = 25  # N, the CoViAR / DMC-Net protocol
    test_crops: Literal[1, 10] = 1  # 1 = centre crop, 10 = four corners + centre, each also flipped
    size: int = 224  # output crop side, px
    scale_size: int | None = None  # val/test: short side before cropping (None: size * 256 / 224)
    scales: tuple[float, ...] = TSN_SCALES  # multi-scale crop sides, fractions of the short side
    flip: bool = True  # train: horizontal flip with probability 1/2

    def __post_init__(self) -> None:
        check_choices(self)

    @property
    def length(self) -> int:
        """Items per snippet: 1 frame (rgb), L pairs (flow), L+1 frames (rgbpair)."""
        return {"rgb": 1, "flow": self.new_length, "rgbpair": self.new_length + 1}[self.modality]


class ClipDataset(torch.utils.data.Dataset):
    """TSN clips of a list of (video_id, label) from a reader.

    Sample dict (the same keys for every modality and mode):
        ``input``: float32 tensor, S snippets of
            rgb     (S, 3, H, W)       ImageNet-normalised RGB
            flow    (S, 2L, H, W)      ``code_to_input`` of the TV-L1 codes, in [-1, 1], channels x1, y1, ..., xL, yL
            rgbpair (S, L+1, 3, H, W)  RGB in [0, 1] (the embedded flow estimator's input)
          where S = K (train, val) or V * N (test: V = 1 or 10 crop views, N snippets; view-major,
          so snippet n of view v is row v * N + n); average consensus over S is TSN's test protocol.
        ``label``: int64 tensor (), 0-based class.
        ``video_id``: str.
        ``index``: int, position in this dataset.
        ``items``: int64 tensor (K or N, length): the 0-based frame (rgb, rgbpair) or flow-pair (flow)
          indices each snippet read; ``length`` = 1, L or L+1.
        ``flipped``: bool tensor (), whether the training flip was applied (always False otherwise).
    """

    def __init__(self, reader, videos: Sequence[tuple[str, int]], config: ClipConfig):
        missing = [vid for vid, _ in videos if not reader.has(vid)]
        if missing:
            raise InputError(f"{len(missing)} listed videos have no frames or shard entry, e.g. {missing[:3]}")
        self.reader = reader
        self.videos = list(videos)
        self.config = config

    def __len__(self) -> int:
        return len(self.videos)

    def _items(self, video_id: str) -> int:
        if self.config.modality == "flow":
            return self.reader.num_flow_pairs(video_id)
        return self.reader.num_frames(video_id)

    def _decode(self, video_id: str, indices: np.ndarray) -> np.ndarray:
        """(S, length) item indices -> (S * length * c, H, W, C') uint8 images (flow: c = 2 planes x, y)."""
        import cv2

        images = []
        for row in indices:
            first, count = int(row[0]), int(row[-1] - row[0] + 1)
            repeat = len(row) - count  # short video: the last item repeats
            if self.config.modality == "flow":
                pairs = self.reader.read_flow(video_id, first, count)
                blobs = [b for pair in pairs + pairs[-1:] * repeat for b in pair]
                images += [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_GRAYSCALE)[..., None] for b in blobs]
            else:
                frames = self.reader.read_rgb(video_id, first, count)
                for b in frames + frames[-1:] * repeat:
                    images.append(cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)[..., ::-1])
        return np.stack(images)  # (S * length * planes, H, W, C')

    def _views(self, images: np.ndarray, rng: np.random.Generator) -> tuple[list[np.ndarray], bool]:
        cfg = self.config
        flow_x = np.arange(len(images)) % 2 == 0 if cfg.modality == "flow" else None
        if cfg.mode == "train":
            box = multiscale_box(*images.shape[1:3], rng, cfg.scales)
            out = crop_resize(images, box, cfg.size)
            flipped = bool(cfg.flip and rng.random() < 0.5)
            return [hflip(out, flow_x) if flipped else out], flipped
        scaled = resize_short_side(images, cfg.scale_size or round(cfg.size * 256 / 224))
        h, w = scaled.shape[1:3]
        if cfg.mode == "val" or cfg.test_crops == 1:
            return [crop_resize(scaled, center_box(h, w, cfg.size), cfg.size)], False
        crops = [crop_resize(scaled, box, cfg.size) for box in five_boxes(h, w, cfg.size)]
        return crops + [hflip(c, flow_x) for c in crops], False

    def _to_tensor(self, view: np.ndarray, snippets: int) -> torch.Tensor:
        cfg = self.config
        if cfg.modality == "rgb":
            x = normalize_rgb(view).reshape(snippets, cfg.size, cfg.size, 3)  # (S, H, W, 3)
            return chw(x)  # (S, 3, H, W)
        if cfg.modality == "flow":
            x = code_to_input(view.astype(np.float32)).reshape(snippets, 2 * cfg.length, cfg.size, cfg.size)
            return torch.from_numpy(x)  # (S, 2L, H, W)
        x = (view.astype(np.float32) / 255.0).reshape(snippets, cfg.length, cfg.size, cfg.size, 3)
        return chw(x)  # (S, L+1, 3, H, W)

    def __getitem__(self, index: int) -> dict:
        cfg = self.config
        video_id, label = self.videos[index]
        # Drawn from torch's generator, which DataLoader seeds differently per worker and epoch,
        # so workers never repeat each other's crops and torch.manual_seed makes runs repeatable.
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        items = self._items(video_id)
        if cfg.mode == "train":
            offsets = train_offsets(items, cfg.length, cfg.segments, rng)
        else:
            offsets = uniform_offsets(items, cfg.length, cfg.segments if cfg.mode == "val" else cfg.test_snippets)
        indices = snippet_indices(offsets, cfg.length, items)  # (K or N, length)
        views, flipped = self._views(self._decode(video_id, indices), rng)
        clip = torch.cat([self._to_tensor(v, len(indices)) for v in views])  # (V * N, ...) view-major
        return {
            "input": clip,
            "label": torch.tensor(label, dtype=torch.int64),
            "video_id": video_id,
            "index": index,
            "items": torch.from_numpy(indices.astype(np.int64)),
            "flipped": torch.tensor(flipped),
        }


def open_reader(root: Path, dataset: str, source: str = "shards", videos: list[str] | None = None):
    """A ShardReader over ``<root>/<dataset>/shards`` (byte layouts of ``videos`` read up front, default: all)
    or a FolderReader over frames/ and tvl1/."""
    if source == "shards":
        return ShardReader(DatasetPaths(Path(root), dataset).shards, videos)
    if source == "frames":
        return FolderReader(Path(root), dataset)
    raise ConfigError(f"source must be 'shards' or 'frames', got {source!r}")


def split_dataset(
    root: Path,
    dataset: str,
    split: int,
    subsets: tuple[str, ...],
    config: ClipConfig,
    source: str = "shards",
    flow_reader=None,
) -> ClipDataset:
    """The ClipDataset of ``subsets`` of ``splits/split<split>.csv`` (e.g. ("train", "val") for the paper).

    ``flow_reader`` (e.g. ground-truth flow) replaces the flow of ``source``; RGB still comes from ``source``.
    """
    from ufsn.tsn.flow_cache import MixedReader

    rows = read_split(DatasetPaths(Path(root), dataset).split_csv(split), subsets)
    reader = open_reader(root, dataset, source, [r.video_id for r in rows])  # only this split's layouts
    if flow_reader is not None:
        reader = MixedReader(reader, flow_reader)
    return ClipDataset(reader, [(r.video_id, r.label) for r in rows], config)
