"""The differences table from a run store written here, with outcomes and flow errors worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.differences import (
    NOT_SIGNIFICANT,
    SIGNIFICANT,
    differences_table,
    pair_errors_name,
    planned_comparisons,
    save_pair_errors,
    significance_marks,
    write_differences,
)
from bench.runs import run_dir
from bench.tables import PAIRED, Measured, ablation_table, to_latex, to_markdown
from ufsn.flow.evaluate import ErrorSums
from ufsn.paired import mcnemar_exact
from ufsn.tsn.evaluate import StreamScores, save_scores

CLIPS = [f"v_{i:02d}" for i in range(40)]
LABELS = np.arange(40) % 4


def _scores(right: np.ndarray) -> np.ndarray:
    """(40, 4) scores whose argmax is the label where ``right``, the next class elsewhere."""
    predicted = np.where(right, LABELS, (LABELS + 1) % 4)
    return np.eye(4, dtype=np.float32)[predicted]


def _run(root, method: str, right: np.ndarray, split: int = 1) -> None:
    folder = run_dir(root, "synthetic", f"{method}-split{split}")
    folder.mkdir(parents=True)
    scores = StreamScores(_scores(right), LABELS, CLIPS)
    streams = {"spatial": scores} if method == "rgb" else {"spatial": scores, "temporal": scores, "fused": scores}
    save_scores(folder / "scores.npz", streams, 4)


def _errors(offsets: list[float]) -> ErrorSums:
    """Pairs of 4x4 ground truth moving 2 px; the estimate is off by ``offsets[i]`` px on pair i."""
    sums = ErrorSums()
    gt = np.zeros((4, 4, 2), np.float32)
    gt[..., 0] = 2.0
    valid = np.ones((4, 4), bool)
    for off in offsets:
        sums.add(gt + np.array([off, 0.0], np.float32), gt, valid, None)
    return sums


def _flow_run(root, variant: str, uf: list[float], tvl1: list[float]) -> None:
    folder = run_dir(root, "synthetic", f"flow-{variant}-split1")
    folder.mkdir(parents=True)
    save_pair_errors(folder / pair_errors_name(1, "test"), {"uf": _errors(uf), "tvl1": _errors(tvl1)})


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "data"
    idx = np.arange(40)
    _run(root, "ufsn", idx < 36)  # 36 right
    _run(root, "tvl1", idx < 34)  # 34 right, all inside ufsn's: 2 discordant
    _run(root, "rgb", idx < 20)  # 20 right, inside ufsn's: 16 discordant
    _run(root, "ufsn-nms", (idx < 30) | (idx == 39))  # 31 right: 6 ufsn-only (30..35), 1 nms-only (39)
    _flow_run(root, "full", uf=[0.5] * 10, tvl1=[0.6] * 10)
    _flow_run(root, "nms", uf=[0.8, 0.2] * 5, tvl1=[0.6] * 10)  # mean 0.5 like full, spread per pair
    return root


def test_every_planned_pair_with_both_runs_is_tested(store):
    table = differences_table(store, ["synthetic"], [1])
    got = {(r.table, r.metric, r.a, r.b) for r in table.itertuples()}
    assert got == {
        ("comparison", "top1 (%)", "UF-TSN", "TSN spatial stream"),
        ("comparison", "top1 (%)", "UF-TSN", "Two-stream TSN, TV-L1"),
        ("comparison", "EPE (px)", "UF-TSN", "Two-stream TSN, TV-L1"),
        ("ablations", "top1 (%)", "w/o multi-scale", "UF-TSN"),
        ("ablations", "EPE (px)", "w/o multi-scale", "UF-TSN"),
    }  # supflow, gtflow and nocv-nms have no runs: their pairs are left out
    assert len(planned_comparisons()) == 3 + 5


def test_accuracy_rows_are_mcnemar_on_the_discordant_clips(store):
    table = differences_table(store, ["synthetic"], [1]).set_index(["table", "metric", "b"])
    rgb = table.loc[("comparison", "top1 (%)", "TSN spatial stream")]
    assert (rgb.a_only, rgb.b_only, rgb.paired_items) == (16, 0, 40)
    assert rgb.p_value == pytest.approx(2 / 2**16) and rgb.significant == SIGNIFICANT
    assert rgb.difference == pytest.approx(40.0) and rgb.difference_low > 0
    tvl1 = table.loc[("comparison", "top1 (%)", "Two-stream TSN, TV-L1")]
    assert (tvl1.a_only, tvl1.b_only) == (2, 0) and tvl1.p_value == pytest.approx(0.5)
    assert tvl1.difference == pytest.approx(5.0) and tvl1.significant == NOT_SIGNIFICANT
    nms = table.loc[("ablations", "top1 (%)", "UF-TSN")]
    assert (nms.a, nms.a_only, nms.b_only) == ("w/o multi-scale", 1, 6)
    assert nms.p_value == pytest.approx(mcnemar_exact(1, 6)) and nms.p_value == pytest.approx(16 / 128)


def test_epe_rows_pair_the_same_flow_pairs(store):
    table = differences_table(store, ["synthetic"], [1]).set_index(["table", "metric", "b"])
    full_tvl1 = table.loc[("comparison", "EPE (px)", "Two-stream TSN, TV-L1")]
    assert (full_tvl1.a_value, full_tvl1.b_value) == pytest.approx((0.5, 0.6))
    assert full_tvl1.difference_low == pytest.approx(-0.1) and full_tvl1.significant == SIGNIFICANT  # every pair
    nms_full = table.loc[("ablations", "EPE (px)", "UF-TSN")]
    assert nms_full.difference == pytest.approx(0.0) and nms_full.significant == NOT_SIGNIFICANT
    assert nms_full.difference_low < 0 < nms_full.difference_high and nms_full.paired_items == 10


def test_marks_reach_the_ablation_table_and_its_printed_forms(store, tmp_path):
    table = differences_table(store, ["synthetic"], [1])
    marks = significance_marks(table, "ablations")
    assert marks == {("ufsn-nms", "synthetic"): NOT_SIGNIFICANT, ("ufsn-nms", "synthetic EPE"): NOT_SIGNIFICANT}
    comparison = significance_marks(table, "comparison")
    assert comparison[("rgb", "synthetic")] == SIGNIFICANT and comparison[("tvl1", "synthetic")] == NOT_SIGNIFICANT
    records = [Measured("ufsn-nms", "synthetic", 1, 0.775, "a", clips=40), Measured("ufsn", "synthetic", 1, 0.9, "b",
                                                                                    clips=40)]  # fmt: skip
    marked = {**marks, ("ufsn-nms", "synthetic"): SIGNIFICANT}  # as if the test had separated them
    ablations = ablation_table(records, [], ["synthetic"], [1], marked)
    assert list(ablations["synthetic" + PAIRED]) == [SIGNIFICANT, ""]
    md = to_markdown(ablations)
    assert "77.5 ± " in md and md.count("†") == 1
    assert md.splitlines()[2].split("|")[3].strip().endswith("†")  # the w/o multi-scale row carries it
    assert to_latex(ablations, "x").count("$^\\dagger$") == 1
    paths = write_differences(table, tmp_path / "results")
    back = pd.read_csv(paths["csv"])
    assert len(back) == 5 and set(back["significant"]) == {SIGNIFICANT, NOT_SIGNIFICANT}
    assert "McNemar" in paths["md"].read_text() and "\\toprule" in paths["tex"].read_text()


def test_flow_errors_on_different_pairs_are_refused(store):
    folder = run_dir(store, "synthetic", "flow-nms-split1")
    save_pair_errors(folder / pair_errors_name(1, "test"), {"uf": _errors([0.5] * 9), "tvl1": _errors([0.6] * 9)})
    with pytest.raises(ValueError, match="not evaluated on the same flow pairs"):
        differences_table(store, ["synthetic"], [1])
