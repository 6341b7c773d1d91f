"""Table builders (pure): run records + literature -> DataFrames -> CSV, LaTeX (booktabs), Markdown.

Every measured cell is traceable: the ``source`` column lists the record files it averages.
Accuracies are shown in percent (records store fractions); literature rows are "reported".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

# Comparison table: method -> (seed's group, label). UF-TSN and supervised flow computed on the fly
# take RGB only as input, as in the seed's grouping.
COMPARISON_ROWS = {
    "rgb": ("RGB only", "TSN spatial stream"),
    "supflow": ("RGB only", "Two-stream TSN, supervised flow on the fly"),
    "ufsn": ("RGB only", "UF-TSN"),
    "tvl1": ("RGB + optical flow", "Two-stream TSN, TV-L1"),
}
GROUP_ORDER = ("Compressed video", "RGB only", "RGB + optical flow")
ABLATION_ROWS = {
    "tvl1": "TV-L1",
    "supflow": "Supervised flow",
    "ufsn-nocv-nms": "w/o cost-volume & multi-scale",
    "ufsn-nms": "w/o multi-scale",
    "ufsn": "UF-TSN",
}
# Where each ablation row's flow EPE comes from: stage-1 runs, or flow-eval of TV-L1 ("flow-tvl1").
FLOW_RUN_OF_METHOD = {
    "tvl1": "flow-tvl1",
    "supflow": "flow-oracle",
    "ufsn": "flow-full",
    "ufsn-nms": "flow-nms",
    "ufsn-nocv-nms": "flow-nocv-nms",
}


@dataclass(frozen=True)
class Measured:
    """One run record as the tables need it."""

    method: str
    dataset: str
    split: int
    top1: float  # fraction
    path: str  # record.json the numbers come from
    flow_label: str = ""  # for supflow: "RAFT-small" or "oracle"
    epe: float | None = None  # flow runs: end-point error on ground truth


def _mean_cell(rows: Sequence[Measured], splits: Sequence[int]) -> tuple[float, list[str], list[int]]:
    chosen = sorted((r for r in rows if r.split in splits), key=lambda r: r.split)
    if not chosen:
        return float("nan"), [], []
    return float(np.mean([r.top1 for r in chosen])) * 100, [r.path for r in chosen], [r.split for r in chosen]


def _pick(records: Sequence[Measured], method: str, dataset: str) -> list[Measured]:
    return [r for r in records if r.method == method and r.dataset == dataset]


def comparison_table(
    records: Sequence[Measured], literature: pd.DataFrame, datasets: Sequence[str], splits: Sequence[int]
) -> pd.DataFrame:
    """Rows grouped as the seed groups them; one top-1 (%) column per dataset."""
    rows = []
    lit = literature[literature["table"] == "comparison"]
    for group in GROUP_ORDER:
        for method, block in lit[lit["group"] == group].groupby("method", sort=False):
            row = {"group": group, "method": method, "status": "reported"}
            for d in datasets:
                hit = block[block["dataset"] == d]["value"]
                row[d] = float(hit.iloc[0]) if len(hit) else float("nan")
            row["source"] = block["citation"].iloc[0]
            rows.append(row)
        for method, (mgroup, label) in COMPARISON_ROWS.items():
            if mgroup != group:
                continue
            row = {"group": group, "method": _label(records, method, label), "status": "measured"}
            sources = []
            for d in datasets:
                row[d], paths, _ = _mean_cell(_pick(records, method, d), splits)
                sources += paths
            if not sources:
                continue
            row["source"] = ";".join(sources)
            rows.append(row)
    return pd.DataFrame(rows, columns=["group", "method", "status", *datasets, "source"])


def _label(records: Sequence[Measured], method: str, label: str) -> str:
    flow = sorted({r.flow_label for r in records if r.method == method and r.flow_label})
    return f"{label} ({', '.join(flow)})" if flow else label


def ablation_table(
    records: Sequence[Measured], flow_records: Sequence[Measured], datasets: Sequence[str], splits: Sequence[int]
) -> pd.DataFrame:
    """Rows TV-L1, supervised flow, w/o CV & MS, w/o MS, UF-TSN: top-1 (%) and flow EPE per dataset."""
    rows = []
    for method, label in ABLATION_ROWS.items():
        row = {"method": _label(records, method, label), "status": "measured"}
        sources = []
        for d in datasets:
            row[d], paths, _ = _mean_cell(_pick(records, method, d), splits)
            sources += paths
            flow = [f for f in flow_records if f.method == FLOW_RUN_OF_METHOD.get(method) and f.dataset == d]
            flow = [f for f in flow if f.split in splits and f.epe is not None]
            row[f"{d} EPE"] = float(np.mean([f.epe for f in flow])) if flow else float("nan")
            sources += [f.path for f in flow]
        if not sources:
            continue
        row["source"] = ";".join(sources)
        rows.append(row)
    columns = ["method", "status", *datasets, *(f"{d} EPE" for d in datasets), "source"]
    return pd.DataFrame(rows, columns=columns)


def column_digits(column: str) -> int:
    """Decimals shown: accuracies (%) and FPS 1, EPE / params / MACs 2."""
    return 2 if column.endswith("EPE") or column in ("params_m", "gmacs", "gflops") else 1


def to_markdown(table: pd.DataFrame) -> str:
    """Markdown (pipe) table without the source column; missing cells as "-"."""
    shown = table.drop(columns=["source"], errors="ignore")
    formats = tuple(f".{column_digits(c)}f" for c in shown.columns)
    shown = shown.astype(object).where(shown.notna(), None)  # tabulate prints None as missingval
    return shown.to_markdown(index=False, floatfmt=formats, missingval="-")


def to_latex(table: pd.DataFrame, caption: str) -> str:
    """Booktabs LaTeX (no source column), missing cells as "--"."""
    shown = table.drop(columns=["source"], errors="ignore")
    styler = shown.style.hide(axis="index").format_index(escape="latex", axis=1)
    styler = styler.format(escape="latex", na_rep="--")
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            styler = styler.format(precision=column_digits(column), na_rep="--", subset=[column])
    align = "".join("r" if pd.api.types.is_numeric_dtype(shown[c]) else "l" for c in shown.columns)
    return styler.to_latex(hrules=True, caption=_latex_escape(caption), position="t", column_format=align)


def _latex_escape(text: str) -> str:
    for char in "\\&%$#_{}":
        text = text.replace(char, "\\" + char)
    return text


def write_table(table: pd.DataFrame, folder: Path, name: str, caption: str) -> dict[str, Path]:
    """Write ``name``.csv/.tex/.md into ``folder`` atomically; return the paths."""
    from pipeline.atomic import atomic_write_text

    folder = Path(folder)
    paths = {ext: folder / f"{name}.{ext}" for ext in ("csv", "tex", "md")}
    atomic_write_text(paths["csv"], table.to_csv(index=False, float_format="%.4g"))
    atomic_write_text(paths["tex"], to_latex(table, caption))
    atomic_write_text(paths["md"], to_markdown(table) + "\n")
    return paths
