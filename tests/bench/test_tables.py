"""Table builders on fixture records: exact CSV, LaTeX and Markdown; LaTeX compiles when pdflatex exists."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from bench.tables import Measured, ablation_table, comparison_table, to_latex, to_markdown, write_table

LITERATURE = Path(__file__).resolve().parents[2] / "bench" / "literature.csv"
NAN = float("nan")
RECORDS = [
    Measured("rgb", "synthetic", 1, 0.50, "runs/rgb-split1/record.json", clips=10),
    Measured("rgb", "synthetic", 2, 0.60, "runs/rgb-split2/record.json", clips=10),
    Measured("tvl1", "synthetic", 1, 0.93, "runs/tvl1-split1/record.json", clips=100),
    Measured("gtflow", "synthetic", 1, 1.0, "runs/gtflow-split1/record.json", clips=100),
    Measured("supflow", "synthetic", 1, 0.95, "runs/supflow-split1/record.json", flow_label="oracle"),
    Measured("ufsn", "synthetic", 1, 0.91, "runs/ufsn-split1/record.json"),
    Measured("ufsn-nms", "synthetic", 3, 0.80, "runs/ufsn-nms-split3/record.json"),  # split not requested
]
FLOW = [
    Measured("flow-full", "synthetic", 1, NAN, "runs/flow-full-split1/record.json", epe=0.8125, epe_ci95=0.05),
    Measured("flow-tvl1", "synthetic", 1, NAN, "flow_eval.csv", epe=0.5, epe_ci95=0.03),
]


def test_ablation_csv_exact():
    table = ablation_table(RECORDS, FLOW, ["synthetic"], [1, 2])
    # Intervals: Wilson of 93/100 is [0.8625, 0.9657] (half-width 5.159 points), of 100/100 [0.9630, 1];
    # records without a clip count (supflow, ufsn here) get none.
    assert table.to_csv(index=False, float_format="%.4g") == (
        "method,status,synthetic,synthetic_ci95,synthetic_paired,synthetic EPE,synthetic EPE_ci95,"
        "synthetic EPE_paired,source\n"
        "Ground-truth flow,measured,100,1.85,,,,,runs/gtflow-split1/record.json\n"
        "TV-L1,measured,93,5.159,,0.5,0.03,,runs/tvl1-split1/record.json;flow_eval.csv\n"
        "Supervised flow (oracle),measured,95,,,,,,runs/supflow-split1/record.json\n"
        "UF-TSN,measured,91,,,0.8125,0.05,,runs/ufsn-split1/record.json;runs/flow-full-split1/record.json\n"
    )


def test_accuracy_interval_pools_the_splits():
    table = comparison_table(RECORDS, pd.read_csv(LITERATURE), ["synthetic"], [1, 2])
    rgb = table.set_index("method").loc["TSN spatial stream"]
    # 5/10 and 6/10 pooled: Wilson of 11/20 = [0.3421, 0.7418]
    assert rgb["synthetic"] == pytest.approx(55.0) and rgb["synthetic_ci95"] == pytest.approx(19.98, abs=0.01)


def test_ablation_latex_exact():
    table = ablation_table(RECORDS, FLOW, ["synthetic"], [1])
    assert to_latex(table, "Ablations & EPE") == (
        "\\begin{table}[t]\n"
        "\\caption{Ablations \\& EPE}\n"
        "\\begin{tabular}{llrr}\n"
        "\\toprule\n"
        "method & status & synthetic & synthetic EPE \\\\\n"
        "\\midrule\n"
        "Ground-truth flow & measured & 100.0 $\\pm$ 1.8 & -- \\\\\n"
        "TV-L1 & measured & 93.0 $\\pm$ 5.2 & 0.50 $\\pm$ 0.03 \\\\\n"
        "Supervised flow (oracle) & measured & 95.0 & -- \\\\\n"
        "UF-TSN & measured & 91.0 & 0.81 $\\pm$ 0.05 \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
        "\\end{table}\n"
    )


def test_comparison_groups_average_and_sources():
    table = comparison_table(RECORDS, pd.read_csv(LITERATURE), ["ucf101", "synthetic"], [1, 2])
    measured = table[table["status"] == "measured"].set_index("method")
    assert measured.loc["TSN spatial stream", "synthetic"] == pytest.approx(55.0)  # mean of splits 1 and 2
    assert measured.loc["TSN spatial stream", "source"] == "runs/rgb-split1/record.json;runs/rgb-split2/record.json"
    assert measured.loc["Two-stream TSN, TV-L1", "group"] == "RGB + optical flow"
    assert "Two-stream TSN, supervised flow on the fly (oracle)" in measured.index
    reported = table[table["status"] == "reported"].set_index("method")
    assert reported.loc["CoViAR", "ucf101"] == 90.4 and reported.loc["TV-Net", "group"] == "RGB only"
    assert list(table["group"].drop_duplicates()) == ["Compressed video", "RGB only", "RGB + optical flow"]
    assert len(reported) == 9
    md = to_markdown(table)
    assert "| CoViAR" in md and "nan" not in md and "source" not in md and "ci95" not in md
    assert "55.0 ± 20.0" in md


def test_write_table_and_compile(tmp_path):
    table = ablation_table(RECORDS, FLOW, ["synthetic"], [1])
    paths = write_table(table, tmp_path, "ablations", "Ablations")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ablations.csv", "ablations.md", "ablations.tex"]
    tex = paths["tex"].read_text()
    assert tex.count("\\toprule") == 1 and tex.count("\\bottomrule") == 1 and "\\midrule" in tex
    assert paths["csv"].read_text().startswith("method,status,synthetic,synthetic_ci95,synthetic_paired,synthetic EPE,")
    assert "93.0 ± 5.2" in paths["md"].read_text()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (structure is checked above)")
def test_latex_compiles(tmp_path):
    tex = to_latex(ablation_table(RECORDS, FLOW, ["synthetic"], [1]), "Ablations")
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n" + tex + "\\end{document}\n")
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", doc.name], cwd=tmp_path, capture_output=True)
    assert result.returncode == 0, result.stdout[-2000:]
