"""Real clips into the tables: a UCF-101 root from the three real clips and an HMDB-51 root from the two,
``ufsn-data all``, every measured method on a tiny budget with explicit random weights, then
``ufsn-bench compare`` over both datasets from the run records alone."""

from __future__ import annotations

import csv
import math
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main as bench
from bench.runs import load_record
from pipeline.cli import main as data
from ufsn.workers import usable_cpus

UCF_CLIPS = {"ApplyEyeMakeup": "v_ApplyEyeMakeup_g01_c01", "BaseballPitch": "v_BaseballPitch_g01_c01",
             "Basketball": "v_Basketball_g01_c01"}  # fmt: skip
HMDB_CLIPS = {"brush_hair": "April_09_brush_hair_u_nm_np1_ba_goo_0",  # split 1: train
              "climb_stairs": "Increase_stride_length_by_running_stairs__working_step_over_action_speed_"
                              "development_climb_stairs_f_cm_np1_le_med_1"}  # split 1: test  # fmt: skip
METHODS = ("rgb", "tvl1", "ufsn", "ufsn-nms", "ufsn-nocv-nms")
CLASSES = {"ucf101": 8, "hmdb51": 7}  # classifier outputs = largest label + 1: classInd 0, 6, 7; HMDB-51 0 and 6
# ResNet-18 on 64 px crops of 96x72 frames, one epoch of two batches, six stage-1 steps, random weights.
TINY = ["spatial.model.arch=resnet18", "spatial.model.weights=random", "temporal.model.weights=random",
        "input.crop=64", "input.max_iters=2", "input.test_snippets=3", "spatial.optim.epochs=1",
        "temporal.optim.epochs=1", "spatial.optim.batch_size=2", "temporal.optim.batch_size=2",
        "ufsn.stage2.epochs=1", "ufsn.stage2.batch_size=2", "ufsn.stage3.batch_size=2",
        "ufsn.flow_config=flow_tiny.toml"]  # fmt: skip


def _ok(result):
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def real_root(realdata, tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    runner = CliRunner()
    for cls, vid in UCF_CLIPS.items():
        folder = root / "ucf101" / "videos" / cls
        folder.mkdir(parents=True)
        shutil.copy(realdata / "ucf101_videos" / f"{vid}.avi", folder / f"{vid}.avi")  # g01: test in split 1
        shutil.copy(realdata / "ucf101_videos" / f"{vid}.avi", folder / f"{vid.replace('_g01_', '_g08_')}.avi")  # train
    for cls, vid in HMDB_CLIPS.items():
        folder = root / "hmdb51" / "videos" / cls
        folder.mkdir(parents=True)
        shutil.copy(realdata / "hmdb51_videos" / f"{vid}.avi", folder / f"{vid}.avi")
    small = ["--workers", "2", "--size", "96x72", "--fps", "2"]
    _ok(runner.invoke(data, ["all", "--root", str(root), "--dataset", "ucf101", *small]))
    _ok(runner.invoke(data, ["all", "--root", str(root), "--dataset", "hmdb51", *small, "--official",
                             str(realdata / "hmdb51_splits"), "--allow-missing"]))  # fmt: skip
    for dataset in CLASSES:
        for method in METHODS:
            args = ["train", "--root", str(root), "--dataset", dataset, "--method", method, "--no-progress"]
            _ok(runner.invoke(bench, args + [x for s in TINY for x in ("--set", s)]))
    return root


def _logs(run_folder):
    for path in sorted(run_folder.glob("train_log*.csv")):
        yield path, list(csv.DictReader(path.open()))


@pytest.mark.parametrize("dataset", list(CLASSES))
def test_every_method_trains_with_sane_losses(real_root, dataset):
    runs = real_root / dataset / "runs"
    for method in METHODS:
        record = load_record(runs / f"{method}-split1")
        assert record.weights == "random" and record.config["classes"] == CLASSES[dataset]
        assert record.metrics["clips"] == {"ucf101": 3, "hmdb51": 1}[dataset]
        with np.load(runs / f"{method}-split1" / "scores.npz") as saved:  # fused for two-stream runs
            final = saved["fused"] if "fused" in saved else saved["spatial"]
            assert record.metrics["top1"] == pytest.approx(float(np.mean(final.argmax(1) == saved["labels"])))
        if usable_cpus() < 8:  # the paper configs ask for 8 DataLoader workers
            assert any(n.startswith(f"input.workers 8 capped at {usable_cpus()}") for n in record.notes)
        for path, rows in _logs(runs / f"{method}-split1"):
            assert rows and all(math.isfinite(float(r["loss"])) for r in rows), path
        first = float(next(_logs(runs / f"{method}-split1"))[1][0]["first_batch_loss"])
        if method in ("rgb", "tvl1"):  # from random init: within a few nats of ln(classes)
            assert abs(first - math.log(CLASSES[dataset])) < 2.0, (method, first)
    for variant in ("full", "nms", "nocv-nms"):
        rows = next(_logs(runs / f"flow-{variant}-split1"))[1]
        assert rows and all(math.isfinite(float(r["loss"])) for r in rows)


def test_compare_over_both_datasets_from_the_records(real_root, tmp_path):
    args = ["compare", "--root", str(real_root), "--dataset", "ucf101", "--dataset", "hmdb51", "--splits", "1",
            "--no-train", "--results", str(tmp_path)]  # fmt: skip
    result = _ok(CliRunner().invoke(bench, args))
    assert "supflow-split1 has no record.json" in result.output  # no RAFT-small weights here: left out, named
    with (tmp_path / "ucf101_hmdb51" / "comparison.csv").open() as f:
        rows = list(csv.DictReader(f))
    measured = [r for r in rows if r["status"] == "measured"]
    assert {r["method"] for r in measured} == {"TSN spatial stream", "UF-TSN", "Two-stream TSN, TV-L1"}
    run = {"TSN spatial stream": "rgb", "UF-TSN": "ufsn", "Two-stream TSN, TV-L1": "tvl1"}
    for row in measured:
        for dataset in CLASSES:
            record = load_record(real_root / dataset / "runs" / f"{run[row['method']]}-split1")
            assert float(row[dataset]) == pytest.approx(100 * record.metrics["top1"], abs=0.051)  # one split: its top-1
            assert str(real_root / dataset / "runs") in row["source"]
