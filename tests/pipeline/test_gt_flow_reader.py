"""Ground-truth flow served as TV-L1 codes (the gtflow ceiling method): values, errors, the CLI run."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.runs import load_record
from pipeline.readers.gt_flow import GroundTruthFlowReader
from pipeline.storage.paths import DatasetPaths


def _decode(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)


def test_codes_are_the_tvl1_code_of_the_exact_flow(tiny_root):
    reader = GroundTruthFlowReader(tiny_root, "synthetic")
    vid = sorted(p.stem for p in DatasetPaths(tiny_root, "synthetic").flow_gt.glob("*.npz"))[0]
    with np.load(DatasetPaths(tiny_root, "synthetic").flow_gt_npz(vid)) as npz:
        flow = npz["flow"].astype(np.float64)  # (T-1, H, W, 2) px
    assert reader.has(vid) and reader.num_flow_pairs(vid) == len(flow)
    pairs = reader.read_flow(vid, 1, 2)
    assert len(pairs) == 2
    for k, (x_png, y_png) in enumerate(pairs):
        for c, png in enumerate((x_png, y_png)):
            # Independent reference: the code written out by hand, clip +-20 px onto 0..255.
            expected = np.floor((np.clip(flow[1 + k, ..., c], -20, 20) + 20) * 255 / 40 + 0.5)
            got = _decode(png).astype(np.float64)
            assert np.abs(got - expected).max() <= 1  # ties may round either way
            assert np.mean(got == expected) > 0.99
            # Back in pixels: within half a code step (20/255 px) of the exact flow.
            back = got / (255 / 40) - 20
            assert np.abs(back - np.clip(flow[1 + k, ..., c], -20, 20)).max() <= 20 / 255 + 1e-6


def test_out_of_range_pairs_and_bad_files_name_the_file(tiny_root, tmp_path):
    reader = GroundTruthFlowReader(tiny_root, "synthetic")
    vid = sorted(p.stem for p in DatasetPaths(tiny_root, "synthetic").flow_gt.glob("*.npz"))[0]
    with pytest.raises(IndexError, match=vid):
        reader.read_flow(vid, reader.num_flow_pairs(vid) - 1, 2)
    broken = DatasetPaths(tmp_path, "synthetic").flow_gt
    broken.mkdir(parents=True)
    (broken / "v_X_g01_c01.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="v_X_g01_c01.npz"):
        GroundTruthFlowReader(tmp_path, "synthetic").read_flow("v_X_g01_c01", 0, 1)
    assert not GroundTruthFlowReader(tmp_path, "synthetic").has("v_missing")
    with pytest.raises(FileNotFoundError, match="only the synthetic set"):
        GroundTruthFlowReader(tmp_path, "ucf101")


def test_train_gtflow_cli(tiny_prepared, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(tiny_prepared / "synthetic", root / "synthetic", ignore=shutil.ignore_patterns("runs"))
    args = ["train", "--root", str(root), "--config", "tiny", "--no-progress", "--method", "gtflow"]
    result = CliRunner().invoke(main, [*args, "--dataset", "synthetic"])
    assert result.exit_code == 0, result.output
    runs = root / "synthetic" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["gtflow-split1", "rgb-split1"]
    record = load_record(runs / "gtflow-split1")
    assert record.method == "gtflow" and set(record.stream_metrics) == {"spatial", "temporal"}
    with np.load(runs / "gtflow-split1" / "scores.npz") as scores:
        assert scores["temporal"].shape == (28, 4) and np.isfinite(scores["temporal"]).all()
    (root / "ucf101").mkdir()
    refused = CliRunner().invoke(main, [*args, "--dataset", "ucf101"])
    assert refused.exit_code == 1 and "only the synthetic set" in refused.output
