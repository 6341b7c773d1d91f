"""The real-data path end to end: real UCF-101 clips -> ufsn-data all -> train (ucf101.toml) -> evaluate."""

from __future__ import annotations

import shutil

from click.testing import CliRunner

from bench.cli import main as bench
from bench.runs import load_record
from pipeline.cli import main as data

CLIPS = {"ApplyEyeMakeup": "v_ApplyEyeMakeup_g01_c01", "BaseballPitch": "v_BaseballPitch_g01_c01",
         "Basketball": "v_Basketball_g01_c01"}  # fmt: skip


def test_real_clips_all_train_evaluate(realdata, tmp_path):
    videos = tmp_path / "ucf101" / "videos"
    for cls, vid in CLIPS.items():
        (videos / cls).mkdir(parents=True)
        shutil.copy(realdata / "ucf101_videos" / f"{vid}.avi", videos / cls / f"{vid}.avi")  # g01: test in split 1
        train_copy = vid.replace("_g01_", "_g08_")  # g08: train in split 1
        shutil.copy(realdata / "ucf101_videos" / f"{vid}.avi", videos / cls / f"{train_copy}.avi")
    runner = CliRunner()
    prepared = runner.invoke(data, ["all", "--root", str(tmp_path), "--dataset", "ucf101", "--workers", "2",
                                    "--size", "170x128", "--fps", "5"])  # fmt: skip
    assert prepared.exit_code == 0, prepared.output
    small = ["spatial.model.arch=resnet18", "spatial.model.weights=random", "temporal.model.weights=random",
             "input.crop=112", "input.max_iters=2", "input.test_snippets=3", "input.workers=0",
             "spatial.optim.epochs=1", "temporal.optim.epochs=1", "spatial.optim.batch_size=2",
             "temporal.optim.batch_size=2"]  # fmt: skip
    args = ["train", "--root", str(tmp_path), "--dataset", "ucf101", "--config", "ucf101", "--method", "tvl1",
            "--no-progress"] + [x for s in small for x in ("--set", s)]  # fmt: skip
    trained = runner.invoke(bench, args)
    assert trained.exit_code == 0, trained.output
    record = load_record(tmp_path / "ucf101" / "runs" / "tvl1-split1")
    assert record.config["experiment"]["spatial"]["arch"] == "resnet18"
    assert record.config["classes"] == 8  # classInd labels of the three classes: 0, 6, 7
    evaluated = runner.invoke(bench, ["evaluate", "--root", str(tmp_path), "--dataset", "ucf101", "--run",
                                      "tvl1-split1", "--no-progress"])  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    assert "tvl1-split1: top1" in evaluated.output
