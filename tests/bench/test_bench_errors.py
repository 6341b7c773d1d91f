"""Every ufsn-bench command on missing or incomplete inputs: one line naming the file and the command that
makes it, exit 1, no traceback, no run folder; and refused weights before any training."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.runs import RunRecord, write_record
from ufsn.errors import ConfigError


def _run(args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def _one_line_error(result, *fragments) -> str:
    text = result.output.strip()
    assert result.exit_code == 1, text
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "\n" not in text and text.startswith("Error: "), text
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return text


@pytest.fixture()
def root(tiny_prepared, tmp_path) -> Path:
    """A private copy of the prepared tiny root (tests delete parts of it)."""
    shutil.copytree(tiny_prepared / "synthetic", tmp_path / "synthetic", ignore=shutil.ignore_patterns("runs"))
    return tmp_path


def _train(root, method="rgb", *extra, env=None):
    return _run(["train", "--root", root, "--dataset", "synthetic", "--method", method, "--config", "tiny",
                 "--no-progress", *extra], env=env)  # fmt: skip


def _rewrite_split(root, subset_of):
    path = root / "synthetic" / "splits" / "split1.csv"
    rows = list(csv.DictReader(path.open()))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "subset": subset_of(row["subset"])})
    return path


def test_train_without_dataset_folder(tmp_path):
    text = _one_line_error(_run(["train", "--root", tmp_path, "--dataset", "hmdb51", "--method", "rgb"]),
                           f"no dataset folder {tmp_path / 'hmdb51'}", "ufsn-data all")  # fmt: skip
    assert "hmdb51/videos" in text


def test_ablations_without_dataset_folder(tmp_path):
    result = _run(["ablations", "--root", tmp_path, "--dataset", "hmdb51", "--splits", "1", "--results",
                   tmp_path / "results", "--no-progress"])  # fmt: skip
    _one_line_error(result, f"no dataset folder {tmp_path / 'hmdb51'}")


def test_train_without_splits(root):
    shutil.rmtree(root / "synthetic" / "splits")
    _one_line_error(_train(root), "no split file", "split1.csv", f"ufsn-data splits --root {root} --dataset synthetic")
    assert not (root / "synthetic" / "runs").exists()


def test_train_without_frames_or_shards(root):
    shutil.rmtree(root / "synthetic" / "frames")
    shutil.rmtree(root / "synthetic" / "shards")
    _one_line_error(_train(root), "neither", "shards/index.csv", "ufsn-data all")


def test_tvl1_without_flow_names_the_tvl1_step(root):
    shutil.rmtree(root / "synthetic" / "shards")
    shutil.rmtree(root / "synthetic" / "tvl1")
    _one_line_error(_train(root, "tvl1"), "have no TV-L1 flow", f"ufsn-data tvl1 --root {root} --dataset synthetic")
    assert not (root / "synthetic" / "runs").exists()  # refused before the spatial run trained


def test_shards_missing_videos(root):
    index = root / "synthetic" / "shards" / "index.csv"
    lines = index.read_text().splitlines()
    index.write_text("\n".join(lines[:-3]) + "\n")  # three clips dropped from the index
    _one_line_error(_train(root), "have no frames in", "index.csv", "ufsn-data shards")


def test_split_without_test_clips(root):
    path = _rewrite_split(root, lambda s: "train" if s == "test" else s)
    _one_line_error(_train(root), f"{path} has no test clips", "test 0", "choose another --split")


def test_split_without_train_clips(root):
    path = _rewrite_split(root, lambda s: "test")  # tiny.toml trains on train + val
    _one_line_error(_train(root), f"{path} has no train+val clips", "train 0, val 0")


def test_compare_no_train_without_any_run(root, tmp_path):
    result = _run(["compare", "--root", root, "--dataset", "synthetic", "--splits", "1", "--no-train",
                   "--results", tmp_path / "results"])  # fmt: skip
    _one_line_error(result, "no run records in", "rgb-split1", "without --no-train")


def test_compare_no_train_names_each_missing_run(root, tmp_path):
    folder = root / "synthetic" / "runs" / "rgb-split1"
    folder.mkdir(parents=True)
    metrics = {"top1": 0.5, "top5": 1.0, "mean_class_acc": 0.5, "clips": 40}
    write_record(folder, RunRecord(name="rgb-split1", method="rgb", dataset="synthetic", split=1, metrics=metrics))
    (root / "synthetic" / "runs" / "tvl1-split1").mkdir()  # killed before its record: resume, not retrain
    result = _run(["compare", "--root", root, "--dataset", "synthetic", "--splits", "1", "--no-train",
                   "--results", tmp_path / "results"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| TSN spatial stream" in result.output and "50.0 ±" in result.output
    assert "tvl1-split1 has no record.json; make it with `ufsn-bench train" in result.output
    assert "--method tvl1 --split 1 --resume`" in result.output
    assert "--method ufsn --split 1`" in result.output


def test_evaluate_missing_run(root):
    result = _run(["evaluate", "--root", root, "--dataset", "synthetic", "--run", "tvl1-split1"])
    _one_line_error(result, "no run record", "tvl1-split1")


def test_figures_without_dataset(tmp_path):
    result = _run(["figures", "--root", tmp_path, "--dataset", "ucf101", "--results", tmp_path / "r"])
    _one_line_error(result, "ucf101")


def test_imagenet_weights_refused_before_training(root, tmp_path):
    env = {"TORCH_HOME": str(tmp_path / "torch-home")}
    text = _one_line_error(_train(root, "tvl1", "--set", "spatial.model.weights=imagenet", env=env),
                           "[spatial.model] weights = 'imagenet'", "ImageNet weights of resnet18",
                           str(tmp_path / "torch-home" / "hub" / "checkpoints"), "IMAGENET1K_V1",
                           "--weights PATH", "spatial.model.weights=random")  # fmt: skip
    assert "resnet18-f37072fd.pth" in text  # the file torchvision's weights API would fetch
    assert not (root / "synthetic" / "runs").exists()


def test_weights_path_missing(root, tmp_path):
    _one_line_error(_train(root, "rgb", "--weights", tmp_path / "r18.pt"), "backbone weights not found", "r18.pt")


def test_supflow_on_real_data_needs_raft_weights(root, tmp_path):
    env = {"TORCH_HOME": str(tmp_path / "torch-home")}
    result = _train(root, "supflow", "--set", "ufsn.supervised_flow=raft_small", env=env)
    _one_line_error(result, "RAFT-small weights not found", "raft_small_C_T_V2", "--flow-weights PATH")
    assert not (root / "synthetic" / "runs").exists()


def test_train_nan_loss_is_one_line(root):
    # lr = nan makes the first SGD step write NaN weights, so the next batch's loss is NaN.
    _one_line_error(_train(root, "rgb", "--set", "spatial.optim.lr=nan"), "loss became nan")


def test_train_flow_without_dataset_or_videos(tmp_path):
    args = ["train-flow", "--root", tmp_path, "--dataset", "ucf101", "--variant", "full", "--no-progress"]
    _one_line_error(_run(args), f"no dataset folder {tmp_path / 'ucf101'}")
    (tmp_path / "ucf101").mkdir()
    _one_line_error(_run(args), "no train videos for split 1", "split1.csv", "ufsn-data all")
    assert not (tmp_path / "ucf101" / "runs").exists()


def test_flow_eval_without_stage1_run(root):
    result = _run(["flow-eval", "--root", root, "--dataset", "synthetic", "--run", "flow-nms-split1"])
    _one_line_error(result, "no checkpoint", "ufsn-bench train-flow", "--variant nms --split 1")


def test_train_flow_without_split_file_or_val_videos_trains_without_val_epe(root):
    base = root / "synthetic"
    shutil.rmtree(base / "splits")  # the group rule decides: split 1's val groups are g24 and g25
    for video in base.glob("videos/*/*_g2[45]_*"):
        video.unlink()
    for name in ("frames", "tvl1", "shards"):
        shutil.rmtree(base / name, ignore_errors=True)
    result = _run(["train-flow", "--root", root, "--dataset", "synthetic", "--config", "flow_tiny", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "val EPE n/a" in result.output
    with (base / "runs" / "flow-full-split1" / "train_log.csv").open() as f:
        assert {row["val_epe"] for row in csv.DictReader(f)} == {""}


def test_a_failed_train_flow_start_leaves_no_run_folder(root):
    args = ["train-flow", "--root", root, "--dataset", "synthetic", "--config", "flow_tiny", "--no-progress"]
    frames = sorted((root / "synthetic" / "frames").glob("*/*.jpg"))
    kept = {f: f.read_bytes() for f in frames}
    for frame in frames:
        frame.write_bytes(b"not a jpeg")  # fails at the first batch, after the run folder was made
    _one_line_error(_run(args), "unreadable frame")
    assert not (root / "synthetic" / "runs" / "flow-full-split1").exists()
    for frame, data in kept.items():
        frame.write_bytes(data)
    again = _run(args)  # so the next try starts without --resume
    assert again.exit_code == 0, again.output


def test_an_error_that_is_not_the_users_keeps_its_traceback(root, monkeypatch):
    import bench.train_method

    def bug(options):
        raise ValueError("mat1 and mat2 shapes cannot be multiplied")  # what torch raises for a bug of ours

    monkeypatch.setattr(bench.train_method, "train_method", bug)
    result = _train(root)
    assert isinstance(result.exception, ValueError) and "mat1" in str(result.exception)  # not "Error: <line>"
    monkeypatch.setattr(bench.train_method, "train_method", lambda options: (_ for _ in ()).throw(
        ConfigError("tiny.toml: [input] test_crops = 'tne'")))  # fmt: skip
    _one_line_error(_train(root), "tiny.toml: [input] test_crops = 'tne'")
