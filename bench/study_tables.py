"""The study's tables as library calls: train what a table needs (unless told not to), build it, write it.

Each call returns the table, the CSV/LaTeX/Markdown paths it wrote and the runs it left out, so the
commands (``compare``, ``ablations``, ``efficiency``, ``all``) only print.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from bench.study import StudyOptions


class WrittenTable(NamedTuple):
    table: pd.DataFrame
    paths: dict[str, Path]  # csv, tex, md
    left_out: list[str]  # under --no-train: one line per missing run, with the command that makes it


def results_folder(results: Path, datasets: tuple[str, ...]) -> Path:
    """``results/<d1>_<d2>/`` for several datasets, ``results/<d>/`` for one."""
    return Path(results) / "_".join(datasets)


def _literature() -> pd.DataFrame:
    from importlib import resources

    return pd.read_csv(resources.files("bench") / "literature.csv")


def _left_out(opts: StudyOptions, methods: tuple[str, ...]) -> list[str]:
    """Under --no-train: raise when a dataset has none of the table's runs, else name each run left out."""
    from bench.study import require_some_runs

    return [] if opts.train else require_some_runs(opts, methods)


def _paired_marks(opts: StudyOptions, table: str) -> dict[tuple[str, str], str]:
    """Write ``differences.{csv,md,tex}`` (every paired test the run store allows) and return ``table``'s marks."""
    from bench.differences import differences_table, significance_marks, write_differences

    differences = differences_table(opts.root, opts.datasets, opts.splits)
    write_differences(differences, results_folder(opts.results, opts.datasets))
    return significance_marks(differences, table)


def differences(opts: StudyOptions) -> WrittenTable:
    """The paired differences table alone, from the run store (nothing is trained)."""
    from bench.differences import differences_table, write_differences
    from ufsn.distributed import on_main

    def write() -> WrittenTable:
        table = differences_table(opts.root, opts.datasets, opts.splits)
        return WrittenTable(table, write_differences(table, results_folder(opts.results, opts.datasets)), [])

    return on_main(write)


def comparison(opts: StudyOptions) -> WrittenTable:
    """The comparison table: measured methods beside the seed's reported numbers."""
    from bench.study import COMPARE_METHODS, ensure_runs, measured
    from bench.tables import comparison_table, write_table
    from ufsn.distributed import on_main

    ensure_runs(opts, COMPARE_METHODS)  # every rank trains (DDP under torchrun)

    def write() -> WrittenTable:
        left_out = _left_out(opts, COMPARE_METHODS)
        records, _ = measured(opts.root, opts.datasets)
        marks = _paired_marks(opts, "comparison")
        table = comparison_table(records, _literature(), list(opts.datasets), list(opts.splits), marks)
        caption = f"Top-1 accuracy (%), mean over splits {','.join(map(str, opts.splits))}"
        note = "† differs from UF-TSN in a paired test on the same test clips (p < 0.05; differences.md)"
        paths = write_table(table, results_folder(opts.results, opts.datasets), "comparison", caption, note)
        return WrittenTable(table, paths, left_out)

    return on_main(write)


def ablations(opts: StudyOptions) -> WrittenTable:
    """The ablation table: every flow source of the temporal stream, top-1 and flow EPE."""
    from bench.study import (
        ABLATION_METHODS,
        GROUND_TRUTH_METHOD,
        ensure_flow_eval,
        ensure_runs,
        has_ground_truth,
        measured,
    )
    from bench.tables import ablation_table, write_table
    from ufsn.distributed import on_main

    ensure_runs(opts, ABLATION_METHODS)  # every rank trains (DDP under torchrun)
    with_truth = tuple(d for d in opts.datasets if has_ground_truth(opts.root, d))
    ensure_runs(replace(opts, datasets=with_truth), (GROUND_TRUTH_METHOD,))

    def write() -> WrittenTable:
        left_out = _left_out(opts, ABLATION_METHODS)
        ensure_flow_eval(opts)
        records, flows = measured(opts.root, opts.datasets)
        marks = _paired_marks(opts, "ablations")
        table = ablation_table(records, flows, list(opts.datasets), list(opts.splits), marks)
        caption = "Flow sources of the temporal stream: top-1 (%) and flow EPE (px) on the test split"
        note = ("† differs from the next row in a paired test on the same test clips or flow pairs "
                "(p < 0.05; differences.md)")  # fmt: skip
        paths = write_table(table, results_folder(opts.results, opts.datasets), "ablations", caption, note)
        return WrittenTable(table, paths, left_out)

    return on_main(write)


def input_size(dataset: str) -> int:
    """The square network input of ``dataset``'s packaged config (its crop); FileNotFoundError without one."""
    from bench.experiment import load_experiment

    return load_experiment(dataset).input.crop


def efficiency(config, dataset: str, results: Path) -> WrittenTable:
    """Measure every flow source now (``config``: EfficiencyConfig) and write the efficiency table."""
    from bench.perf.efficiency import efficiency_table
    from bench.tables import write_table
    from ufsn.distributed import on_main

    def write() -> WrittenTable:  # measured by one process (under torchrun the others wait for the table)
        table = efficiency_table(config, _literature())
        caption = (f"Flow sources at {config.width}x{config.height}, {config.threads} threads, "
                   f"device {table.loc[0, 'device']}")  # fmt: skip
        paths = write_table(table, results_folder(results, (dataset,)), "efficiency", caption)
        return WrittenTable(table, paths, [])

    return on_main(write)
