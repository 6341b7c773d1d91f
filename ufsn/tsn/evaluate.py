"""The test protocol: video-level scores of a stream over the test split, fusion, and scores.npz."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ufsn.distributed import DistContext
from ufsn.errors import InputError
from ufsn.tsn.metrics import ClassificationMetrics, classification_metrics, confusion_matrix
from ufsn.tsn.train import predict


class StreamScores(NamedTuple):
    """Video-level scores of one stream on the test split, in a fixed video order."""

    scores: np.ndarray  # (N, classes) float32 logits averaged over snippets and crops
    labels: np.ndarray  # (N,) int64
    video_ids: list[str]


def evaluate_stream(model: torch.nn.Module, dataset, *, device: torch.device, batch_size: int = 2,
                    workers: int = 0, progress: bool = True,
                    ctx: DistContext | None = None) -> StreamScores:  # fmt: skip
    """Run ``model`` on every test clip (all snippets x crops per video; consensus inside the model).

    Under DDP (``ctx`` distributed) rank r scores clips r, r + world_size, ... and every rank returns the
    scores of all clips, in dataset order.
    """
    from ufsn.workers import capped_workers, worker_options

    rank, world = (ctx.rank, ctx.world_size) if ctx is not None else (0, 1)
    mine = list(range(rank, len(dataset), world))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, mine), batch_size=batch_size, shuffle=False,
        **worker_options(capped_workers(workers)),
    )  # fmt: skip
    scores, labels, ids = predict(model, loader, device=device, progress=progress)
    if world == 1:
        return StreamScores(scores, labels, ids)
    import torch.distributed as dist

    shares: list = [None] * world
    dist.all_gather_object(shares, (mine, scores, labels, ids))
    positions = np.concatenate([np.asarray(m, dtype=np.int64) for m, *_ in shares])
    order = np.argsort(positions, kind="stable")  # back to dataset order
    all_ids = [v for *_, vids in shares for v in vids]
    return StreamScores(np.concatenate([s[1] for s in shares])[order], np.concatenate([s[2] for s in shares])[order],
                        [all_ids[i] for i in order])  # fmt: skip


def align(reference: StreamScores, other: StreamScores) -> StreamScores:
    """``other`` reordered to ``reference``'s videos; raises when the video sets differ."""
    if set(reference.video_ids) != set(other.video_ids):
        missing = sorted(set(reference.video_ids) ^ set(other.video_ids))[:3]
        raise InputError(f"streams were evaluated on different videos, e.g. {missing}")
    position = {vid: i for i, vid in enumerate(other.video_ids)}
    order = [position[vid] for vid in reference.video_ids]
    return StreamScores(other.scores[order], other.labels[order], list(reference.video_ids))


def fuse(spatial: StreamScores, temporal: StreamScores, temporal_weight: float) -> StreamScores:
    """Late fusion of two streams' video scores with ``ufsn.tsn.streams.late_fusion``.

    RGB : flow = 1 : ``temporal_weight``.
    """
    from ufsn.tsn.streams import late_fusion

    temporal = align(spatial, temporal)
    fused = late_fusion(torch.from_numpy(spatial.scores), torch.from_numpy(temporal.scores), temporal_weight)
    return StreamScores(fused.numpy(), spatial.labels, spatial.video_ids)


def metrics_of(scores: StreamScores) -> ClassificationMetrics:
    """Top-1, top-5 and mean class accuracy of video-level scores."""
    return classification_metrics(scores.scores, scores.labels)


def save_scores(path: Path, streams: dict[str, StreamScores], num_classes: int) -> None:
    """``scores.npz``: per-stream score arrays (``<stream>``), labels, video_ids and the confusion
    matrix of every stream, so fusion weights and figures can change without re-running."""
    import io

    from pipeline.api import atomic_write_bytes

    first = next(iter(streams.values()))
    arrays = {"labels": first.labels, "video_ids": np.asarray(first.video_ids)}
    for name, stream in streams.items():
        stream = align(first, stream)
        arrays[name] = stream.scores
        arrays[f"confusion_{name}"] = confusion_matrix(stream.scores, stream.labels, num_classes)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_scores(path: Path, stream: str) -> StreamScores:
    """One stream's scores from a run's ``scores.npz`` (no pickles: ``allow_pickle=False``)."""
    with np.load(Path(path), allow_pickle=False) as data:
        if stream not in data:
            raise KeyError(f"{path} has no stream {stream!r}; it has {sorted(data.files)}")
        return StreamScores(data[stream], data["labels"], [str(v) for v in data["video_ids"]])
