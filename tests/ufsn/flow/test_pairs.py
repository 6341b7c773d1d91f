"""The streaming pair dataset against the in-memory bank it replaced, and the pair stream's split over ranks."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from pipeline.api import DatasetPaths
from ufsn.flow.data import load_bank, split_videos
from ufsn.flow.pairs import PairAugment, PairStream, pair_dataset


@pytest.mark.parametrize("source", ["videos", "frames", "shards"])
def test_pair_dataset_returns_the_banks_pairs_for_the_same_indices(tiny_prepared, tmp_path, source):
    root = tmp_path / "root"
    shutil.copytree(tiny_prepared / "synthetic", root / "synthetic", ignore=shutil.ignore_patterns("runs"))
    paths = DatasetPaths(root, "synthetic")
    ids = split_videos(paths, 1, ("train",))[:5]
    bank = load_bank(paths, ids)  # read before the frames are moved: the bank reads folders, else decord
    if source != "frames":
        shutil.rmtree(paths.base / "frames")
    if source == "videos":
        shutil.rmtree(paths.shards)
        bank = load_bank(paths, ids)  # both decode the videos with decord now
    data = pair_dataset(root, "synthetic", ids)
    assert data.frames.source == source and len(data) == bank.pairs == 5 * 7
    index = torch.tensor([0, 6, 7, 20, 34])  # first and last pair of video 0, first of video 1, ..., the last pair
    expected = bank.batch(index)
    got = [torch.stack(column) for column in zip(*(data[int(i)] for i in index), strict=True)]
    for name, a, b in zip(("img1", "img2", "flow", "noc"), expected, got, strict=True):
        assert a.shape == b.shape, name
        assert torch.equal(a, b), (name, (a - b).abs().max())  # the same JPEG bytes, the same decoder


def test_pair_dataset_over_clips_of_different_lengths_keeps_every_pair(tiny_prepared, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(tiny_prepared / "synthetic", root / "synthetic", ignore=shutil.ignore_patterns("runs", "shards"))
    paths = DatasetPaths(root, "synthetic")
    ids = split_videos(paths, 1, ("train",))[:3]
    for frame in sorted(paths.frame_dir(ids[1]).glob("*.jpg"))[5:]:
        frame.unlink()  # video 1 keeps 5 of its 8 frames: the bank would cut every clip to 5
    data = pair_dataset(root, "synthetic", ids, ground_truth=False)
    assert data.frames.counts.tolist() == [8, 5, 8] and len(data) == 7 + 4 + 7
    assert [data.locate(i) for i in (6, 7, 10, 11, 17)] == [(0, 6), (1, 0), (1, 3), (2, 0), (2, 6)]
    with pytest.raises(IndexError):
        data.locate(18)


def test_pair_stream_splits_each_global_batch_over_ranks_and_resumes_at_a_draw():
    first = [x for x, _ in zip(PairStream(10, batch=4, seed=3), range(24), strict=False)]  # endless: a prefix
    ranks = [iter(PairStream(10, batch=2, rank=r, world_size=2, seed=3)) for r in (0, 1)]
    merged = []
    for _ in range(6):  # six global batches of 4: rank 0 takes the first half of each, rank 1 the second
        merged += [next(ranks[0]) for _ in range(2)] + [next(ranks[1]) for _ in range(2)]
    assert merged == first and [d for _, d in first] == list(range(24))
    epochs = [sorted(i for i, _ in first[k : k + 10]) for k in (0, 10)]
    assert epochs == [list(range(10))] * 2  # every pair once per epoch
    resumed = iter(PairStream(10, batch=4, seed=3, start=12))
    assert [next(resumed) for _ in range(12)] == first[12:]


def test_augmentation_is_seeded_by_the_draw_not_the_worker(tiny_prepared):
    ids = split_videos(DatasetPaths(tiny_prepared, "synthetic"), 1, ("train",))[:2]
    data = pair_dataset(tiny_prepared, "synthetic", ids, augment=PairAugment((32, 32), False, 0.2), seed=5)
    a, b, c = data[(3, 17)], data[(3, 17)], data[(3, 18)]
    assert a.img1.shape == (3, 32, 32) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a.img1, c.img1)  # another draw of the same pair: another crop or jitter
    assert np.isfinite(a.flow.numpy()).all()


def _raw_difference(paths: DatasetPaths, vid: str, t: int) -> float:
    """NumPy's mean |I1 - I2| (0..255) of frames t and t+1 (0-based) of ``vid`` as decoded from the folder."""
    import cv2

    frames = sorted(paths.frame_dir(vid).glob("*.jpg"))[t : t + 2]
    a, b = (cv2.imread(str(f), cv2.IMREAD_COLOR).astype(np.float64) for f in frames)
    return float(np.abs(a - b).mean())


def test_still_pairs_are_redrawn_by_the_draws_seed(tiny_prepared, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(tiny_prepared / "synthetic", root / "synthetic", ignore=shutil.ignore_patterns("runs", "shards"))
    paths = DatasetPaths(root, "synthetic")
    ids = split_videos(paths, 1, ("train",))[:3]
    first, second = sorted(paths.frame_dir(ids[0]).glob("*.jpg"))[:2]
    shutil.copyfile(first, second)  # pair 0 of video 0 is now a repeated frame
    diffs = [_raw_difference(paths, v, t) for v in ids for t in range(7)]  # every pair, 7 per video
    assert diffs[0] == 0.0
    threshold = 0.5 * float(np.median(diffs[1:]))
    assert threshold > 0
    keep = PairAugment(None, False, 0.0)  # no crop, no jitter: only flips, which keep |I1 - I2|
    redraw = PairAugment(None, False, 0.0, min_difference=threshold)
    still = pair_dataset(root, "synthetic", ids, augment=keep, seed=1, ground_truth=False)[(0, 4)]
    assert torch.equal(still.img1, still.img2)
    data = pair_dataset(root, "synthetic", ids, augment=redraw, seed=1, ground_truth=False)
    for draw in range(6):
        item = data[(0, draw)]
        assert 255 * (item.img1 - item.img2).abs().mean().item() >= threshold - 1e-3
        assert all(torch.equal(x, y) for x, y in zip(item, data[(0, draw)], strict=True))  # the draw decides
    moving = int(np.argmax(diffs))  # a pair above the threshold is kept as it is
    assert torch.equal(data[(moving, 0)].img1.flatten().sort().values, data[moving].img1.flatten().sort().values)


def test_a_dataset_with_only_still_pairs_still_yields_a_pair(tiny_prepared, tmp_path):
    ids = split_videos(DatasetPaths(tiny_prepared, "synthetic"), 1, ("train",))[:1]
    redraw = PairAugment(None, False, 0.0, min_difference=256.0)  # above any possible difference
    item = pair_dataset(tiny_prepared, "synthetic", ids, augment=redraw, ground_truth=False)[(2, 0)]
    assert item.img1.shape == (3, *item.img1.shape[1:]) and item.img1.shape == item.img2.shape
