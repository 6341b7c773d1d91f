"""ufsn-bench perf tvl1: the accuracy row's arithmetic on a hand-made case, and a run on the tiny preset."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.perf.tvl1 import GreyPairs, PerfTVL1Config, accuracy_row, format_tables, run_perf_tvl1, speed_rows
from pipeline.steps.tvl1.params import TVL1Params

FAST = TVL1Params(nscales=2, warps=2, inner_iterations=10, outer_iterations=2)


def test_accuracy_row_hand_worked():
    gt = [np.zeros((4, 5, 2), np.float32), np.ones((4, 5, 2), np.float32)]
    valid = [np.ones((4, 5), bool), np.ones((4, 5), bool)]
    valid[1][0, 0] = False
    pairs = GreyPairs([np.zeros((4, 5), np.uint8)] * 2, [np.zeros((4, 5), np.uint8)] * 2, gt, valid)
    opencv = [g + np.array([1.0, 0.0], np.float32) for g in gt]  # 1 px off everywhere
    ours = [g + np.array([0.0, 2.0], np.float32) for g in gt]  # 2 px off, at right angles
    row = accuracy_row("hand", pairs, opencv, ours, seed=0)
    assert (row.pairs, row.size) == (2, "5x4")
    assert row.epe_opencv == pytest.approx(1.0) and row.epe_torch == pytest.approx(2.0)
    assert row.ratio == pytest.approx(2.0) and row.ratio_ci95 == pytest.approx((2.0, 2.0))
    assert row.between == pytest.approx(np.sqrt(5.0))  # |(1, 0) - (0, 2)|
    no_truth = accuracy_row("ucf", GreyPairs(pairs.first, pairs.second, None, None), opencv, ours, seed=0)
    assert no_truth.epe_opencv is None and no_truth.between == pytest.approx(np.sqrt(5.0))


def test_run_on_the_tiny_preset_agrees_and_times_both(tiny_prepared):
    cfg = PerfTVL1Config(realdata=None, synthetic_root=tiny_prepared, synthetic_pairs=6, params=FAST,
                         threads=1, batches=(3,), compile=False)  # fmt: skip
    result = run_perf_tvl1(cfg)
    (row,) = result.accuracy
    assert row.pairs == 6 and row.size == "64x64"
    assert row.epe_opencv > 0.05 and row.between < 0.1 * row.epe_opencv  # the same flow, not two estimates
    assert 0.9 < row.ratio < 1.1
    text = format_tables(result, cfg)
    assert "| synthetic test | 6 | 64x64 |" in text and "load average" in text and "no ../shared/realdata" in text
    from bench.perf.tvl1 import synthetic_pairs

    speed = speed_rows(synthetic_pairs(tiny_prepared, 3), cfg)
    assert [(s.impl, s.batch) for s in speed if s.device == "cpu"] == [("opencv", 1), ("torch", 1), ("torch", 3)]
    assert speed[0].vs_opencv == 1.0  # the baseline against itself


def test_cli_without_any_pairs_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["perf", "tvl1", "--root", str(tmp_path), "--realdata", str(tmp_path / "no")])
    assert result.exit_code == 2 and "nothing to compare" in result.output
