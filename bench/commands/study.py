"""``ufsn-bench compare`` and ``ufsn-bench ablations``: train what is missing, then write the table."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from bench.commands.options import results_folder, results_option, root_option


def study_options(func):
    """--dataset (repeatable), --splits, --config, --set, --no-train, --device, --no-progress."""
    options = [
        click.option("--dataset", "datasets", multiple=True, required=True,
                     help="Dataset (repeat for one column per dataset, e.g. --dataset ucf101 --dataset hmdb51)."),
        click.option("--splits", default="1,2,3", show_default=True,
                     help="Splits to train and average, comma-separated (papers report the mean of the three)."),
        click.option("--config", default=None, help="Experiment config [default: the dataset's bench/configs file]."),
        click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help="Config override."),
        click.option("--no-train", is_flag=True, help="Only tabulate the runs that exist; train nothing."),
        click.option("--device", default="auto", show_default=True, help="auto (cuda when available), cpu, cuda."),
        click.option("--no-progress", is_flag=True, help="No tqdm bars."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def build_options(root, datasets, splits, results, config, overrides, no_train, device, no_progress):
    """The frozen StudyOptions of a command's parsed options."""
    from bench.study import StudyOptions

    try:
        split_list = tuple(int(s) for s in splits.split(","))
    except ValueError:
        raise click.BadParameter(f"--splits must look like 1,2,3, got {splits!r}") from None
    return StudyOptions(root=Path(root), datasets=tuple(datasets), splits=split_list, results=Path(results),
                        train=not no_train, config=config, overrides=tuple(overrides), device=device,
                        progress=not no_progress)  # fmt: skip


def write_and_print(table, opts, name: str, caption: str) -> None:
    from bench.tables import to_markdown, write_table

    paths = write_table(table, results_folder(opts.results, opts.datasets), name, caption)
    click.echo(to_markdown(table))
    click.echo(f"wrote {paths['csv']}, {paths['tex']}, {paths['md']}")


def report_missing(opts, methods: tuple[str, ...]) -> None:
    """Under --no-train: stop when a dataset has none of the table's runs, else name each run left out (stderr)."""
    from bench.study import require_some_runs

    if not opts.train:
        for line in require_some_runs(opts, methods):
            click.echo(line, err=True)


def run_compare(opts) -> None:
    """Library side of ``compare`` (also used by ``all``)."""
    from importlib import resources

    import pandas as pd

    from bench.study import COMPARE_METHODS, ensure_runs, measured
    from bench.tables import comparison_table

    ensure_runs(opts, COMPARE_METHODS)
    report_missing(opts, COMPARE_METHODS)
    records, _ = measured(opts.root, opts.datasets)
    literature = pd.read_csv(resources.files("bench") / "literature.csv")
    table = comparison_table(records, literature, list(opts.datasets), list(opts.splits))
    caption = f"Top-1 accuracy (%), mean over splits {','.join(map(str, opts.splits))}"
    write_and_print(table, opts, "comparison", caption)


def run_ablations(opts) -> None:
    """Library side of ``ablations`` (also used by ``all``)."""
    from bench.study import (
        ABLATION_METHODS,
        GROUND_TRUTH_METHOD,
        ensure_flow_eval,
        ensure_runs,
        has_ground_truth,
        measured,  # fmt: skip
    )
    from bench.tables import ablation_table

    ensure_runs(opts, ABLATION_METHODS)
    report_missing(opts, ABLATION_METHODS)
    with_truth = tuple(d for d in opts.datasets if has_ground_truth(opts.root, d))
    ensure_runs(replace(opts, datasets=with_truth), (GROUND_TRUTH_METHOD,))
    ensure_flow_eval(opts)
    records, flows = measured(opts.root, opts.datasets)
    table = ablation_table(records, flows, list(opts.datasets), list(opts.splits))
    caption = "Flow sources of the temporal stream: top-1 (%) and flow EPE (px) on the test split"
    write_and_print(table, opts, "ablations", caption)


def table_command(name: str, runner, doc: str) -> click.Command:
    """A table command: the study options, then ``runner`` on the frozen StudyOptions."""

    @click.command(name, help=doc)
    @root_option
    @study_options
    @results_option
    def command(root, datasets, splits, config, overrides, no_train, device, no_progress, results):
        runner(build_options(root, datasets, splits, results, config, overrides, no_train, device, no_progress))

    return command


compare = table_command(
    "compare", run_compare,
    "Comparison table: measured methods beside the seed's reported numbers (CSV, LaTeX, Markdown).",
)  # fmt: skip
ablations = table_command(
    "ablations", run_ablations,
    "Ablation table: ground-truth flow (datasets that have it), TV-L1, supervised flow, w/o cost volume & "
    "multi-scale, w/o multi-scale, UF-TSN; top-1 and flow EPE, each with its 95% interval.",
)  # fmt: skip
