"""A frozen estimator's flow, computed once per training video and stored like TV-L1 (stage 2 cache).

In stage 2 (and for ``supflow``) the estimator does not change, so its flow is computed once per
frame pair, mapped onto the TV-L1 code and written as lossless PNG pairs in the TV-L1 folder layout;
the temporal classifier then trains exactly like the TV-L1 one (same sampler, crops and flips)
instead of re-running the estimator for every snippet of every epoch. Test-time flow stays
unrounded and on the fly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from pipeline.api import (
    DEFAULT_BOUND,
    atomic_dir,
    count_items,
    flow_names,
    inside,
    progress_bar,
    quantize_flow,
    remove_stale_temporaries,
)
from ufsn.layout import hwc, unit_rgb


def _decode_rgb(blobs: list[bytes]) -> torch.Tensor:
    import cv2

    frames = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)[..., ::-1] for b in blobs]
    return unit_rgb(np.stack(frames))  # (T, 3, H, W) in [0, 1]


@torch.no_grad()
def video_flow_codes(estimator: torch.nn.Module, frames: torch.Tensor, device: torch.device,
                     bound: float = DEFAULT_BOUND, batch: int = 16) -> np.ndarray:  # fmt: skip
    """uint8 TV-L1 codes (T-1, H, W, 2) of the estimator's flow between consecutive ``frames`` (T, 3, H, W)."""
    codes = []
    for start in range(0, len(frames) - 1, batch):
        stop = min(start + batch, len(frames) - 1)
        img1 = frames[start:stop].to(device)  # (b, 3, H, W)
        img2 = frames[start + 1 : stop + 1].to(device)
        flow = hwc(estimator(img1, img2).full.float())  # (b, H, W, 2) px
        codes.append(quantize_flow(flow, bound))  # (b, H, W, 2)
    return np.concatenate(codes)


def write_flow_cache(estimator: torch.nn.Module, reader, video_ids: Sequence[str], out_dir: Path, *,
                     device: torch.device, bound: float = DEFAULT_BOUND, progress: bool = True) -> int:  # fmt: skip
    """Write ``out_dir/<vid>/flow_{x,y}_NNNNN.png`` for every video (atomic per video; complete ones are
    skipped, so an interrupted cache resumes). Returns the number of videos computed now."""
    import cv2

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    estimator = estimator.to(device).eval()
    computed = 0
    for vid in progress_bar(video_ids, desc="flow cache", unit="video", enabled=progress, leave=False):
        frames = reader.num_frames(vid)
        if count_items(inside(out_dir, vid), "flow_x_") == frames - 1:
            continue
        codes = video_flow_codes(estimator, _decode_rgb(reader.read_rgb(vid, 0, frames)), device, bound)
        with atomic_dir(inside(out_dir, vid)) as tmp:
            for i, code in enumerate(codes, start=1):
                for name, plane in zip(flow_names(i, "png"), (code[..., 0], code[..., 1]), strict=True):
                    cv2.imwrite(str(tmp / name), plane)
        computed += 1
    return computed


class MixedReader:
    """RGB from one reader, flow from another (same interface as ShardReader / FolderReader)."""

    def __init__(self, rgb, flow):
        self.rgb = rgb
        self.flow = flow

    def has(self, video_id: str) -> bool:
        return self.rgb.has(video_id) and self.flow.num_flow_pairs(video_id) > 0

    def num_frames(self, video_id: str) -> int:
        return self.rgb.num_frames(video_id)

    def num_flow_pairs(self, video_id: str) -> int:
        return self.flow.num_flow_pairs(video_id)

    def read_rgb(self, video_id: str, first: int, count: int) -> list[bytes]:
        return self.rgb.read_rgb(video_id, first, count)

    def read_flow(self, video_id: str, first: int, count: int) -> list[tuple[bytes, bytes]]:
        return self.flow.read_flow(video_id, first, count)

    def close(self) -> None:
        self.rgb.close()
        self.flow.close()
