"""Paired differences between the study's methods, on the same test clips and the same flow pairs.

The seed's claims are orderings (UF-TSN against each other row of the comparison table; each ablation
row against the next). Each is tested here on the items both methods were scored on:

- top-1: the clips' outcomes from each run's ``scores.npz`` (fused scores for two-stream runs),
  McNemar's exact test and a paired bootstrap interval of the difference;
- EPE: the per-pair errors that flow evaluation stores beside each stage-1 run
  (``flow_errors_split<k>_test.npz``, which also holds TV-L1's errors on the same pairs), a paired
  bootstrap interval of the difference.

Several splits pool their items (each split's clips paired within the split).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from bench.tables import ABLATION_ROWS, COMPARISON_ROWS, FLOW_RUN_OF_METHOD
from ufsn.errors import InputError

PAIR_ERRORS = "flow_errors_split{split}_{subset}.npz"
REFERENCE = "ufsn"  # the comparison table's rows are each tested against UF-TSN
SIGNIFICANT, NOT_SIGNIFICANT = "significant", "not significant"
TVL1_FLOW = "flow-tvl1"  # TV-L1's errors: the reference stored beside any stage-1 run of the split

COLUMNS = ["table", "dataset", "metric", "a", "b", "a_value", "b_value", "difference", "difference_low",
           "difference_high", "p_value", "paired_items", "a_only", "b_only", "significant", "test", "splits",
           "source"]  # fmt: skip


def pair_errors_name(split: int, subset: str) -> str:
    return PAIR_ERRORS.format(split=split, subset=subset)


def save_pair_errors(path: Path, sums: Mapping) -> None:
    """Each method's per-pair errors (``ufsn.flow.evaluate.ErrorSums``) as ``<method>.<group>_<error|pixels>``."""
    from pipeline.api import atomic_write_bytes

    arrays = {f"{method}.{key}": value for method, s in sums.items() for key, value in s.pair_arrays().items()}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_pair_errors(path: Path, method: str, group: str = "all") -> tuple[np.ndarray, np.ndarray] | None:
    """(summed error, pixels) per pair of ``method`` in ``path``; None when the file or method is absent."""
    if not Path(path).is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        keys = (f"{method}.{group}_error", f"{method}.{group}_pixels")
        if not all(k in data for k in keys):
            return None
        return data[keys[0]], data[keys[1]]


def clip_outcomes(scores_path: Path) -> dict[str, bool] | None:
    """Per test clip, whether the run's final scores (fused for two streams) rank its label first."""
    if not Path(scores_path).is_file():
        return None
    with np.load(scores_path, allow_pickle=False) as data:
        stream = "fused" if "fused" in data else "spatial"
        right = data[stream].argmax(axis=1) == data["labels"]  # (N,)
        return {str(v): bool(r) for v, r in zip(data["video_ids"], right, strict=True)}


class Comparison(NamedTuple):
    table: str  # "comparison" or "ablations"
    a: str  # method keys
    b: str


def planned_comparisons() -> list[Comparison]:
    """UF-TSN against every other measured comparison row, then each ablation row against the next."""
    plan = [Comparison("comparison", REFERENCE, m) for m in COMPARISON_ROWS if m != REFERENCE]
    rows = list(ABLATION_ROWS)
    plan += [Comparison("ablations", a, b) for a, b in zip(rows, rows[1:], strict=False)]
    return plan


def _label(method: str, table: str) -> str:
    """The row label ``method`` has in ``table``."""
    return COMPARISON_ROWS[method][1] if table == "comparison" else ABLATION_ROWS[method]


def _names(pair: Comparison) -> dict[str, str]:
    return {"a": _label(pair.a, pair.table), "b": _label(pair.b, pair.table)}


class ItemSource(NamedTuple):
    """Where a method's per-item data of one split lives (None: not measured)."""

    outcomes: dict[str, bool] | None  # test clip -> right
    errors: tuple[np.ndarray, np.ndarray] | None  # per-pair (error, pixels)
    paths: list[str]


def _flow_errors(root: Path, dataset: str, method: str, split: int) -> tuple[tuple | None, list[str]]:
    from bench.runs import run_dir

    flow_run = FLOW_RUN_OF_METHOD.get(method)
    if not flow_run:
        return None, []
    name = pair_errors_name(split, "test")
    if flow_run != TVL1_FLOW:
        path = run_dir(root, dataset, f"{flow_run}-split{split}") / name
        return load_pair_errors(path, "uf"), [str(path)]
    for candidate in sorted((Path(root) / dataset / "runs").glob(f"flow-*-split{split}/{name}")):
        found = load_pair_errors(candidate, "tvl1")
        if found is not None:
            return found, [str(candidate)]
    return None, []


def item_source(root: Path, dataset: str, method: str, split: int) -> ItemSource:
    from bench.runs import run_dir

    scores = run_dir(root, dataset, f"{method}-split{split}") / "scores.npz"
    errors, paths = _flow_errors(root, dataset, method, split)
    return ItemSource(clip_outcomes(scores), errors, [str(scores), *paths])


def _accuracy_row(pair: Comparison, dataset: str, a: list[ItemSource], b: list[ItemSource],
                  splits: list[int], seed: int) -> dict | None:  # fmt: skip
    from ufsn.paired import paired_accuracy

    a_right, b_right, used, sources = [], [], [], []
    for split, sa, sb in zip(splits, a, b, strict=True):
        if sa.outcomes is None or sb.outcomes is None:
            continue
        common = sorted(set(sa.outcomes) & set(sb.outcomes))
        a_right += [sa.outcomes[v] for v in common]
        b_right += [sb.outcomes[v] for v in common]
        used.append(split)
        sources += [sa.paths[0], sb.paths[0]]
    if not a_right:
        return None
    result = paired_accuracy(np.array(a_right), np.array(b_right), seed=seed)
    d = result.difference
    return {"table": pair.table, "dataset": dataset, "metric": "top1 (%)", **_names(pair),
            "a_value": 100 * np.mean(a_right), "b_value": 100 * np.mean(b_right), "difference": 100 * d.value,
            "difference_low": 100 * d.low, "difference_high": 100 * d.high, "p_value": result.p_value,
            "paired_items": result.n, "a_only": result.a_only, "b_only": result.b_only,
            "significant": SIGNIFICANT if result.significant else NOT_SIGNIFICANT,
            "test": "McNemar exact; paired bootstrap interval", "splits": ",".join(map(str, used)),
            "source": ";".join(sources)}  # fmt: skip


def _epe_row(pair: Comparison, dataset: str, a: list[ItemSource], b: list[ItemSource],
             splits: list[int], seed: int) -> dict | None:  # fmt: skip
    from ufsn.paired import paired_ratio_difference

    parts, used, sources = [], [], []
    for split, sa, sb in zip(splits, a, b, strict=True):
        if sa.errors is None or sb.errors is None:
            continue
        (ae, ap), (be, bp) = sa.errors, sb.errors
        if ap.shape != bp.shape or not np.array_equal(ap, bp):  # the same pairs have the same valid pixels
            raise InputError(f"{dataset} split {split}: {pair.a} and {pair.b} were not evaluated on the same "
                             f"flow pairs ({sa.paths[1:]} against {sb.paths[1:]}); rerun flow evaluation")  # fmt: skip
        parts.append((ae, ap, be, bp))
        used.append(split)
        sources += [*sa.paths[1:], *sb.paths[1:]]
    if not parts:
        return None
    ae, ap, be, bp = (np.concatenate(x) for x in zip(*parts, strict=True))
    result = paired_ratio_difference(ae, ap, be, bp, seed=seed)
    d = result.difference
    nan = float("nan")
    return {"table": pair.table, "dataset": dataset, "metric": "EPE (px)", **_names(pair),
            "a_value": ae.sum() / ap.sum(), "b_value": be.sum() / bp.sum(), "difference": d.value,
            "difference_low": d.low, "difference_high": d.high, "p_value": nan, "paired_items": result.n,
            "a_only": nan, "b_only": nan, "significant": SIGNIFICANT if result.significant else NOT_SIGNIFICANT,
            "test": "paired bootstrap interval", "splits": ",".join(map(str, used)),
            "source": ";".join(dict.fromkeys(sources))}  # fmt: skip


def differences_table(root: Path, datasets: Sequence[str], splits: Sequence[int], seed: int = 0) -> pd.DataFrame:
    """One row per planned comparison, dataset and metric with both methods measured on the same items."""
    rows = []
    plan = planned_comparisons()
    for dataset in datasets:
        methods = dict.fromkeys(m for pair in plan for m in pair[1:])
        items = {m: [item_source(root, dataset, m, s) for s in splits] for m in methods}  # method -> per split
        for pair in plan:
            for build in (_accuracy_row, _epe_row):
                row = build(pair, dataset, items[pair.a], items[pair.b], list(splits), seed)
                if row is not None:
                    rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def significance_marks(differences: pd.DataFrame, table: str) -> dict[tuple[str, str], str]:
    """(method key, value column) -> SIGNIFICANT / NOT_SIGNIFICANT for the rows of ``table``.

    The comparison table marks each row tested against UF-TSN; the ablation table marks each row tested
    against the next one (its top-1 column ``<d>`` and EPE column ``<d> EPE``).
    """
    by_label = {_label(m, table): m for m in (COMPARISON_ROWS if table == "comparison" else ABLATION_ROWS)}
    marks = {}
    for row in differences[differences["table"] == table].itertuples():
        column = row.dataset if row.metric.startswith("top1") else f"{row.dataset} EPE"
        marked = row.b if table == "comparison" else row.a  # the row that is not UF-TSN / the upper row
        marks[(by_label[marked], column)] = row.significant
    return marks


def to_markdown(differences: pd.DataFrame) -> str:
    shown = _shown(differences)
    return shown.to_markdown(index=False) if len(shown) else "(no two methods measured on the same items yet)"


def to_latex(differences: pd.DataFrame, caption: str) -> str:
    from bench.tables import latex_escape

    shown = _shown(differences)
    styler = shown.style.hide(axis="index").format_index(escape="latex", axis=1).format(escape="latex")
    return styler.to_latex(hrules=True, caption=latex_escape(caption), position="t", column_format="l" * shown.shape[1])


def _shown(differences: pd.DataFrame) -> pd.DataFrame:
    """The printed form: values and the difference with its 95% interval as text, p to 3 digits."""

    def digits(metric: str) -> int:
        return 1 if metric.startswith("top1") else 3

    out = []
    for r in differences.itertuples():
        k = digits(r.metric)
        out.append({
            "table": r.table, "dataset": r.dataset, "metric": r.metric, "a": r.a, "b": r.b,
            "a - b [95% CI]": f"{r.difference:+.{k}f} [{r.difference_low:+.{k}f}, {r.difference_high:+.{k}f}]",
            "a, b": f"{r.a_value:.{k}f}, {r.b_value:.{k}f}",
            "p (McNemar)": "-" if pd.isna(r.p_value) else f"{r.p_value:.3g}", "items": r.paired_items,
            "significant": "yes" if r.significant == SIGNIFICANT else "no",
        })  # fmt: skip
    return pd.DataFrame(out)


def write_differences(differences: pd.DataFrame, folder: Path) -> dict[str, Path]:
    """``differences.{csv,md,tex}`` in ``folder`` (atomic)."""
    from pipeline.api import atomic_write_text

    caption = ("Paired differences a - b on the same test clips (top-1, McNemar's exact test) and flow pairs "
               "(EPE); 95% intervals from a seeded paired bootstrap")  # fmt: skip
    paths = {ext: Path(folder) / f"differences.{ext}" for ext in ("csv", "tex", "md")}
    atomic_write_text(paths["csv"], differences.to_csv(index=False, float_format="%.4g"))
    atomic_write_text(paths["tex"], to_latex(differences, caption))
    atomic_write_text(paths["md"], to_markdown(differences) + "\n")
    return paths
