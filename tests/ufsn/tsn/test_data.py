"""TSN sampling hand-checked; datasets over shards and folders agree; flips; a 2-worker DataLoader."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from framedata import make_frame_folders

from pipeline.steps.shards import ShardsConfig, run_shards
from pipeline.steps.splits import SplitsConfig, run_splits
from pipeline.storage.flowcode import code_to_input, quantize_flow
from pipeline.synth.dataset import class_table, preset, render_clip
from ufsn.tsn.data import ClipConfig, ClipDataset, open_reader, split_dataset
from ufsn.tsn.sampling import snippet_indices, train_offsets, uniform_offsets
from ufsn.tsn.transforms import hflip, multiscale_box
from ufsn.workers import worker_options


class FixedDraws:
    """A stand-in generator whose ``integers`` returns given values, for hand-checked sampling."""

    def __init__(self, values):
        self.values = np.asarray(values)

    def integers(self, low, high, size=None):
        assert np.all(self.values < high)
        return self.values if size is not None else self.values[0]


def test_train_offsets_hand_checked():
    # 20 frames, K = 3: segments of 6 starts, [0, 6), [6, 12), [12, 18); draws 5, 0, 3
    assert train_offsets(20, 1, 3, FixedDraws([5, 0, 3])).tolist() == [5, 6, 15]
    # 7 flow pairs, L = 5: 3 valid starts -> one per segment, no randomness left
    assert train_offsets(7, 5, 3, FixedDraws([0, 0, 0])).tolist() == [0, 1, 2]
    # fewer starts than segments: sorted random starts; none at all: zeros
    assert train_offsets(6, 5, 3, FixedDraws([1, 0, 1])).tolist() == [0, 1, 1]
    assert train_offsets(3, 6, 3, FixedDraws([0])).tolist() == [0, 0, 0]


def test_uniform_offsets_hand_checked():
    assert uniform_offsets(20, 1, 4).tolist() == [2, 7, 12, 17]  # tick 5, centres
    assert uniform_offsets(7, 5, 3).tolist() == [0, 1, 2]  # tick 1: int(0.5 + x)
    # 25 test snippets on 8 frames: tick 0.32 -> int(0.16 + 0.32 x)
    assert uniform_offsets(8, 1, 25).tolist()[:8] == [0, 0, 0, 1, 1, 1, 2, 2]
    assert uniform_offsets(8, 1, 25)[-1] == 7


def test_snippet_indices_repeat_last_item():
    assert snippet_indices(np.array([0, 2]), 6, 4).tolist() == [[0, 1, 2, 3, 3, 3], [2, 3, 3, 3, 3, 3]]


def test_multiscale_box_in_bounds_and_tsn_sizes():
    rng = np.random.default_rng(0)
    for _ in range(200):
        box = multiscale_box(256, 340, rng)
        assert 0 <= box.x and box.x + box.w <= 340 and 0 <= box.y and box.y + box.h <= 256
        assert box.w in (256, 224, 192, 168) and box.h in (256, 224, 192, 168)


def test_hflip_inverts_x_code_only():
    codes = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4, 1)  # x plane, y plane
    out = hflip(codes, np.array([True, False]))
    assert np.array_equal(out[0, :, :, 0], 255 - codes[0, :, ::-1, 0])
    assert np.array_equal(out[1], codes[1, :, ::-1])


@pytest.fixture(scope="module")
def data_root(tiny_root, tmp_path_factory):
    paths = make_frame_folders(tiny_root, tmp_path_factory.mktemp("data"))
    run_shards(ShardsConfig(root=paths.root, dataset="synthetic", shard_size=60_000), progress=False)
    return paths


def _videos(paths):
    reader = open_reader(paths.root, "synthetic")
    return reader, sorted((vid, row.label) for vid, row in reader.videos.items())


@pytest.mark.parametrize(
    ("modality", "shape"), [("rgb", (3, 3, 48, 48)), ("flow", (3, 10, 48, 48)), ("rgbpair", (3, 6, 3, 48, 48))]
)
def test_train_shapes_and_sources_agree(data_root, modality, shape):
    reader, videos = _videos(data_root)
    config = ClipConfig(modality=modality, size=48)
    shards = ClipDataset(reader, videos, config)
    folders = ClipDataset(open_reader(data_root.root, "synthetic", "frames"), videos, config)
    torch.manual_seed(3)
    a = shards[5]
    torch.manual_seed(3)
    b = folders[5]
    assert a["input"].shape == shape and a["input"].dtype == torch.float32
    assert torch.equal(a["input"], b["input"]) and torch.equal(a["items"], b["items"])
    assert a["video_id"] == videos[5][0] and a["label"].item() == videos[5][1]
    items = 8 if modality != "flow" else 7
    assert a["items"].max() < items


def test_flow_values_match_ground_truth(data_root, tiny_root):
    reader, videos = _videos(data_root)
    config = ClipConfig(modality="flow", mode="val", segments=1, new_length=1, size=64, scale_size=64)
    sample = ClipDataset(reader, videos, config)[0]
    cfg = preset("tiny", root=tiny_root)
    cls = next(c for c in class_table(cfg.families, cfg.motions) if f"v_{c.name}_g" in sample["video_id"])
    group = int(sample["video_id"].split("_g")[1][:2])
    pair = sample["items"][0, 0].item()  # uniform_offsets(7, 1, 1) = 3
    assert pair == 3
    gt = render_clip(cfg, cls, group, 1).flow[pair]  # (H, W, 2) px
    expected = code_to_input(quantize_flow(gt).astype(np.float32)).transpose(2, 0, 1)  # (2, H, W)
    error = np.abs(sample["input"][0].numpy() - expected)
    assert error.mean() < 2.0 / 127.5  # JPEG of the code, a couple of code steps


def test_ten_crop_flip_negates_x_flow(data_root):
    reader, videos = _videos(data_root)
    config = ClipConfig(modality="flow", mode="test", test_snippets=2, test_crops=10, size=48, scale_size=64)
    sample = ClipDataset(reader, videos, config)[1]
    x = sample["input"].view(10, 2, 10, 48, 48)  # (V, N, 2L, H, W)
    centre, mirrored = x[4], x[9]
    assert torch.allclose(mirrored[:, 0::2], -centre[:, 0::2].flip(-1), atol=1e-6)  # x: q -> 255 - q
    assert torch.equal(mirrored[:, 1::2], centre[:, 1::2].flip(-1))
    assert sample["items"].shape == (2, 5) and not sample["flipped"]


def test_dataloader_two_workers_over_shards(data_root, tmp_path):
    # without the videos folder, splits take the video ids from frames/ (the 12 with frames)
    shutil.copytree(data_root.base, tmp_path / "synthetic", ignore=shutil.ignore_patterns("videos"))
    report = run_splits(SplitsConfig(root=tmp_path, dataset="synthetic"))
    assert not report.failed and report.source == "frames"
    config = ClipConfig(modality="rgb", segments=3, size=32)
    dataset = split_dataset(tmp_path, "synthetic", 1, ("train", "val", "test"), config)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, **worker_options(2))  # OpenCV's pool stopped first
    seen = []
    for batch in loader:
        assert batch["input"].shape[1:] == (3, 3, 32, 32) and torch.isfinite(batch["input"]).all()
        seen += batch["video_id"]
    assert sorted(seen) == sorted(v for v, _ in dataset.videos) and len(seen) == 12


def test_unknown_video_is_refused(data_root):
    reader, _ = _videos(data_root)
    with pytest.raises(ValueError, match="v_Nope"):
        ClipDataset(reader, [("v_Nope_g01_c01", 0)], ClipConfig())


FORKED_WORKERS_AFTER_OPENCV_POOL = """
import cv2, numpy as np, torch
from ufsn.tsn.stages import make_loader_factory
from ufsn.tsn.train import OptimConfig
from ufsn.distributed import DistContext

cv2.setNumThreads(2)
image = np.random.rand(1024, 1024).astype(np.float32)
for _ in range(5):
    cv2.GaussianBlur(image, (15, 15), 3)  # OpenCV's worker threads now run in this process
data = torch.utils.data.TensorDataset(torch.arange(8.0))
loader = make_loader_factory(data, OptimConfig(batch_size=2), DistContext(0, 1, 0, torch.device("cpu")), workers=2)(0)
print(int(sum(float(b[0].sum()) for b in loader)))
"""


def test_loader_workers_fork_safely_after_opencv_ran_threaded():
    # OpenCV's thread pool is not fork-safe: a forked worker calling cv2.setNumThreads (worker_init)
    # hung forever when the parent's pool was running; the loader factory stops it first.
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", FORKED_WORKERS_AFTER_OPENCV_POOL], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "28"  # 0 + 1 + ... + 7, every item once
