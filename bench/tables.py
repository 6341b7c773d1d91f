"""Table builders (pure): run records + literature -> DataFrames -> CSV, LaTeX (booktabs), Markdown.

Every measured cell is traceable: the ``source`` column lists the record files it averages.
Accuracies are shown in percent (records store fractions); literature rows are "reported".
Every measured value column ``<col>`` has a ``<col>_ci95`` column beside it in the CSV: the half-width
of its 95% interval (Wilson over the pooled test clips for accuracies, the pairs' bootstrap for EPEs);
Markdown and LaTeX print the two as ``92.1 ± 2.3``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from bench.method_models import METHODS
from ufsn.intervals import mean_half_width, wilson_interval

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
    "gtflow": "Ground-truth flow",
    "tvl1": "TV-L1",
    "supflow": "Supervised flow",
    "ufsn-nocv-nms": "w/o cost-volume & multi-scale",
    "ufsn-nms": "w/o multi-scale",
    "ufsn": "UF-TSN",
}
# Where each ablation row's flow EPE comes from: stage-1 runs, or flow-eval of TV-L1 ("flow-tvl1").
FLOW_RUN_OF_METHOD = {name: spec.flow_run for name, spec in METHODS.items() if spec.flow_run}


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
    clips: int | None = None  # test clips behind top1 (None: unknown, no interval)
    epe_ci95: float | None = None  # half-width of epe's 95% bootstrap interval, px


CI = "_ci95"  # suffix of the interval column beside each value column
# Suffix of the paired-test column beside each value column: "significant" / "not significant" against the
# row it is tested with (UF-TSN in the comparison table, the next row in the ablation table), "" untested.
PAIRED = "_paired"
MARK = {"md": " †", "tex": " $^\\dagger$"}  # how a significant ordering is marked beside the value
Marks = Mapping[tuple[str, str], str]  # (method key, value column) -> "significant" / "not significant"


class Cell(NamedTuple):
    """One measured table cell: the mean over splits, its 95% half-width and the records behind it."""

    value: float
    ci95: float
    paths: list[str]


def _accuracy_cell(rows: Sequence[Measured], splits: Sequence[int]) -> Cell:
    """Mean top-1 (%) over the chosen splits; the interval is Wilson's on the pooled clips."""
    chosen = sorted((r for r in rows if r.split in splits), key=lambda r: r.split)
    if not chosen:
        return Cell(float("nan"), float("nan"), [])
    ci = float("nan")
    if all(r.clips for r in chosen):
        total = sum(r.clips for r in chosen)
        ci = wilson_interval(sum(round(r.top1 * r.clips) for r in chosen), total).half_width * 100
    return Cell(float(np.mean([r.top1 for r in chosen])) * 100, ci, [r.path for r in chosen])


def _epe_cell(rows: Sequence[Measured], splits: Sequence[int]) -> Cell:
    """Mean EPE (px) over the chosen splits; the half-width is that of a mean of independent estimates."""
    chosen = [r for r in rows if r.split in splits and r.epe is not None]
    if not chosen:
        return Cell(float("nan"), float("nan"), [])
    ci = mean_half_width([r.epe_ci95 for r in chosen]) if all(r.epe_ci95 is not None for r in chosen) else np.nan
    return Cell(float(np.mean([r.epe for r in chosen])), float(ci), [r.path for r in chosen])


def _pick(records: Sequence[Measured], method: str, dataset: str) -> list[Measured]:
    return [r for r in records if r.method == method and r.dataset == dataset]


def comparison_table(
    records: Sequence[Measured],
    literature: pd.DataFrame,
    datasets: Sequence[str],
    splits: Sequence[int],
    marks: Marks | None = None,
) -> pd.DataFrame:
    """Rows grouped as the seed groups them; one top-1 (%) column per dataset, with ``marks`` (paired
    tests against UF-TSN, :mod:`bench.differences`) in ``<d>_paired``."""
    marks = marks or {}
    rows = []
    lit = literature[literature["table"] == "comparison"]
    for group in GROUP_ORDER:
        for method, block in lit[lit["group"] == group].groupby("method", sort=False):
            row = {"group": group, "method": method, "status": "reported"}
            for d in datasets:
                hit = block[block["dataset"] == d]["value"]
                row[d] = float(hit.iloc[0]) if len(hit) else float("nan")
                row[d + CI] = float("nan")
                row[d + PAIRED] = ""
            row["source"] = block["citation"].iloc[0]
            rows.append(row)
        for method, (mgroup, label) in COMPARISON_ROWS.items():
            if mgroup != group:
                continue
            row = {"group": group, "method": _label(records, method, label), "status": "measured"}
            sources = []
            for d in datasets:
                row[d], row[d + CI], paths = _accuracy_cell(_pick(records, method, d), splits)
                row[d + PAIRED] = marks.get((method, d), "")
                sources += paths
            if not sources:
                continue
            row["source"] = ";".join(sources)
            rows.append(row)
    return pd.DataFrame(rows, columns=["group", "method", "status", *_with_ci(datasets), "source"])


def _with_ci(columns: Sequence[str]) -> list[str]:
    return [name for c in columns for name in (c, c + CI, c + PAIRED)]


def _label(records: Sequence[Measured], method: str, label: str) -> str:
    flow = sorted({r.flow_label for r in records if r.method == method and r.flow_label})
    return f"{label} ({', '.join(flow)})" if flow else label


def ablation_table(
    records: Sequence[Measured],
    flow_records: Sequence[Measured],
    datasets: Sequence[str],
    splits: Sequence[int],
    marks: Marks | None = None,
) -> pd.DataFrame:
    """Rows ground-truth flow, TV-L1, supervised flow, w/o CV & MS, w/o MS, UF-TSN: top-1 (%) and flow EPE,
    with ``marks`` (paired tests of each row against the next, :mod:`bench.differences`) in ``<col>_paired``."""
    marks = marks or {}
    rows = []
    for method, label in ABLATION_ROWS.items():
        row = {"method": _label(records, method, label), "status": "measured"}
        sources = []
        for d in datasets:
            row[d], row[d + CI], paths = _accuracy_cell(_pick(records, method, d), splits)
            row[d + PAIRED] = marks.get((method, d), "")
            sources += paths
            flow = _pick(flow_records, FLOW_RUN_OF_METHOD.get(method, ""), d)
            row[f"{d} EPE"], row[f"{d} EPE{CI}"], paths = _epe_cell(flow, splits)
            row[f"{d} EPE{PAIRED}"] = marks.get((method, f"{d} EPE"), "")
            sources += paths
        if not sources:
            continue
        row["source"] = ";".join(sources)
        rows.append(row)
    columns = ["method", "status", *_with_ci(datasets), *_with_ci([f"{d} EPE" for d in datasets]), "source"]
    return pd.DataFrame(rows, columns=columns)


def column_digits(column: str) -> int:
    """Decimals shown: accuracies (%) and FPS 1, EPE / params / MACs 2."""
    column = column.removesuffix(CI).removesuffix(PAIRED)
    return 2 if column.endswith("EPE") or column in ("params_m", "gmacs", "gflops") else 1


def with_intervals(table: pd.DataFrame, plus_minus: str, missing: str, mark: str = "") -> pd.DataFrame:
    """The table without its source column, each value, its ``_ci95`` and (``mark`` where its paired test
    is significant) merged into one text cell."""
    shown = table.drop(columns=["source"], errors="ignore")
    for column in _interval_columns(shown):
        digits = column_digits(column)
        paired = shown[column + PAIRED] if column + PAIRED in shown else [""] * len(shown)

        def cell(value, ci, test, digits=digits):
            if pd.isna(value):
                return missing
            text = f"{value:.{digits}f}" if pd.isna(ci) else f"{value:.{digits}f}{plus_minus}{ci:.{digits}f}"
            return text + mark if test == "significant" else text

        shown[column] = [cell(*c) for c in zip(shown[column], shown[column + CI], paired, strict=True)]
        shown = shown.drop(columns=[column + CI, column + PAIRED], errors="ignore")
    return shown


def _interval_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c + CI in table.columns]


def to_markdown(table: pd.DataFrame) -> str:
    """Markdown (pipe) table without the source column, intervals as ``92.1 ± 2.3``; missing cells as "-"."""
    merged = _interval_columns(table)
    shown = with_intervals(table, " ± ", "-", MARK["md"])
    formats = tuple(f".{column_digits(c)}f" for c in shown.columns)
    align = tuple("right" if c in merged or pd.api.types.is_numeric_dtype(shown[c]) else "left" for c in shown.columns)
    shown = shown.astype(object).where(shown.notna(), None)  # tabulate prints None as missingval
    return shown.to_markdown(index=False, floatfmt=formats, missingval="-", colalign=align)


def to_latex(table: pd.DataFrame, caption: str) -> str:
    """Booktabs LaTeX (no source column), intervals as ``92.1 $\\pm$ 2.3``, missing cells as "--"."""
    merged = _interval_columns(table)
    shown = with_intervals(table, " $\\pm$ ", "--", MARK["tex"])
    styler = shown.style.hide(axis="index").format_index(escape="latex", axis=1)
    text = [c for c in shown.columns if c not in merged]
    styler = styler.format(escape="latex", na_rep="--", subset=text)
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            styler = styler.format(precision=column_digits(column), na_rep="--", subset=[column])
    align = "".join("r" if pd.api.types.is_numeric_dtype(shown[c]) or c in merged else "l" for c in shown.columns)
    return styler.to_latex(hrules=True, caption=latex_escape(caption), position="t", column_format=align)


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    for char in "\\&%$#_{}":
        text = text.replace(char, "\\" + char)
    return text


def write_table(table: pd.DataFrame, folder: Path, name: str, caption: str, note: str = "") -> dict[str, Path]:
    """Write ``name``.csv/.tex/.md into ``folder`` atomically; return the paths. ``note`` (what the marks
    mean) ends the LaTeX caption and follows the Markdown table."""
    from pipeline.storage.atomic import atomic_write_text

    folder = Path(folder)
    paths = {ext: folder / f"{name}.{ext}" for ext in ("csv", "tex", "md")}
    atomic_write_text(paths["csv"], table.to_csv(index=False, float_format="%.4g"))
    atomic_write_text(paths["tex"], to_latex(table, f"{caption}. {note}" if note else caption))
    atomic_write_text(paths["md"], to_markdown(table) + (f"\n\n{note}\n" if note else "\n"))
    return paths
