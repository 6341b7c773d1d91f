"""ufsn-bench perf train: the full-study estimate by hand, and the command end to end on the tiny set."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.experiment import load_experiment
from bench.perf.train import StageRate, study_estimate
from bench.stage1 import load_flow_config


def test_estimate_is_epochs_times_clips_over_the_slower_rate():
    exp = load_experiment("ucf101")  # rgb 121 epochs, tvl1 537, stage 2 80, stage 3 20; stage 1 200k x 8 pairs
    flow = load_flow_config(exp.ufsn.flow_config)
    rates = [StageRate("spatial", "s", 32, 10.0, 5.0), StageRate("temporal", "t", 32, 20.0, 40.0),
             StageRate("stage3", "e", 16, 4.0, None), StageRate("stage1", "f", 8, 16.0, None)]  # fmt: skip
    rows = {(r.run, r.stage): r for r in study_estimate(rates, exp, flow, train_clips=9537)}
    spatial = rows["rgb", "spatial"]
    assert spatial.items == 121 * 9537
    assert spatial.model_hours == pytest.approx(121 * 9537 / 10 / 3600)
    assert spatial.hours == spatial.loader_hours == pytest.approx(121 * 9537 / 5 / 3600)  # loader-bound
    assert rows["tvl1", "temporal"].hours == pytest.approx(537 * 9537 / 20 / 3600)  # model-bound
    assert rows["supflow", "stage 2"].hours == pytest.approx(80 * 9537 / 20 / 3600)
    assert rows["ufsn-nms", "stage 1"].hours == pytest.approx(200000 * 8 / 16 / 3600)
    assert rows["ufsn-nocv-nms", "stage 3"].hours == pytest.approx(20 * 9537 / 4 / 3600)
    assert len(rows) == 3 + 3 * 3
    measured_at_4 = [r._replace(batch=4) for r in rates]  # --batch 4: rates at 4, the study's batches
    again = {(r.run, r.stage): r for r in study_estimate(measured_at_4, exp, flow, train_clips=9537)}
    assert again["ufsn", "stage 1"].items == 200000 * 8


def test_perf_train_prints_rates_estimate_and_ddp(tiny_prepared):
    args = ["perf", "train", "--root", str(tiny_prepared), "--dataset", "synthetic", "--config", "tiny",
            "--batch", "2", "--steps", "1", "--ddp", "2"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    out = result.output
    for label in ("spatial resnet18, RGB", "temporal resnet18, 3 stacked flow pairs", "UF-TSN stage 3", "UF stage 1"):
        row = next(line for line in out.splitlines() if line.startswith(f"| {label}"))
        model, loader = row.split("|")[3:5]
        float(model)  # a rate (its size depends on the machine's load, so it is not asserted)
        assert label == "UF stage 1" or loader.strip() != "-", row  # tiny_prepared has shards: the loader is timed
    clips = int(re.search(r"\((\d+) training clips per epoch", out).group(1))
    assert clips == 72  # 18 train+val groups x 4 classes
    assert re.search(r"scaling efficiency (\d+\.\d+)", out)
    assert "| ufsn-nocv-nms | stage 3 |" in out
