"""A `make demo`-like run on the tiny preset: ufsn-bench all trains every method and writes every table."""

from __future__ import annotations

import shutil

import pandas as pd
from click.testing import CliRunner

from bench.cli import main


def test_bench_all_on_tiny(tiny_prepared, tmp_path):
    root, results = tmp_path / "root", tmp_path / "results"
    shutil.copytree(tiny_prepared / "synthetic", root / "synthetic", ignore=shutil.ignore_patterns("runs"))
    args = ["all", "--root", str(root), "--dataset", "synthetic", "--splits", "1", "--config", "tiny",
            "--results", str(results), "--no-progress", "--efficiency-seconds", "0.1"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    out = results / "synthetic"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{t}.{e}" for t in ("comparison", "ablations", "differences", "efficiency") for e in ("csv", "tex", "md")]
        + ["figures"]
    )
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["confusion.png", "flow.png"]
    ablations = pd.read_csv(out / "ablations.csv")
    assert list(ablations["method"]) == ["Ground-truth flow", "TV-L1", "Supervised flow (oracle)",
                                         "w/o cost-volume & multi-scale", "w/o multi-scale", "UF-TSN"]  # fmt: skip
    sources = ablations.set_index("method").drop(index="Ground-truth flow")  # the reference itself has no EPE
    assert sources["synthetic EPE"].notna().all()  # every flow source measured against ground truth
    assert (ablations["synthetic_ci95"] > 0).all() and (sources["synthetic EPE_ci95"] > 0).all()
    assert all(src.endswith("record.json") for s in ablations["source"] for src in s.split(";"))
    comparison = pd.read_csv(out / "comparison.csv")
    assert set(comparison["status"]) == {"reported", "measured"}
    assert (comparison[comparison.status == "measured"]["synthetic"].between(0, 100)).all()
    differences = pd.read_csv(out / "differences.csv")  # tiny measures every pair: 3 + 5
    top1 = differences[differences.metric == "top1 (%)"]
    assert len(top1) == 8 and (differences.metric == "EPE (px)").sum() == 6
    assert (top1.paired_items == top1.paired_items.iloc[0]).all() and top1.p_value.between(0, 1).all()
    assert (
        (differences.difference_low <= differences.difference) & (differences.difference <= differences.difference_high)
    ).all()
    sig = differences.set_index(["table", "a", "b", "metric"]).significant
    nms = sig[("ablations", "w/o multi-scale", "UF-TSN", "top1 (%)")]
    assert ablations.set_index("method").loc["w/o multi-scale", "synthetic_paired"] == nms  # the mark agrees
    efficiency = pd.read_csv(out / "efficiency.csv")
    assert efficiency.loc[0, "method"].startswith("TV-L1") and efficiency.loc[0, "speedup_vs_tvl1"] == 1
    # Tables regenerate from the run store alone, identically, without training.
    before = (out / "ablations.csv").read_text()
    again = CliRunner().invoke(main, ["ablations", "--root", str(root), "--dataset", "synthetic", "--splits", "1",
                                      "--no-train", "--results", str(results)])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert (out / "ablations.csv").read_text() == before
    assert "| UF-TSN" in again.output
