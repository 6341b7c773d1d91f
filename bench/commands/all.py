"""``ufsn-bench all``: compare, ablations, efficiency and figures in one go."""

from __future__ import annotations

import click

from bench.commands.options import build_options, results_option, root_option, study_options


@click.command("all")
@root_option
@study_options
@results_option
@click.option("--efficiency-seconds", type=float, default=1.0, show_default=True, help="Timing budget per speed cell.")
def all_tables(root, datasets, splits, config, overrides, no_train, device, no_progress, results, efficiency_seconds):
    """compare, ablations (with their paired differences), efficiency and figures for the dataset(s) (data steps
    not included)."""
    import time

    from bench.commands.output import echo, echo_table
    from bench.differences import to_markdown as differences_markdown
    from bench.figures import make_figures
    from bench.perf.efficiency import EfficiencyConfig
    from bench.study_tables import ablations, comparison, differences, efficiency, input_size, results_folder
    from ufsn.distributed import on_main

    opts = build_options(root, datasets, splits, results, config, overrides, no_train, device, no_progress)
    timings = {}
    for name, table in (("compare", comparison), ("ablations", ablations)):
        start = time.perf_counter()
        echo(f"== {name}")
        echo_table(table(opts))
        timings[name] = time.perf_counter() - start
    echo("== differences (paired tests on the same test clips and flow pairs)")
    written = differences(opts)
    echo(differences_markdown(written.table))
    echo(f"wrote {written.paths['csv']}, {written.paths['tex']}, {written.paths['md']}")
    start = time.perf_counter()
    echo("== efficiency")
    dataset = opts.datasets[0]
    size = input_size(dataset)
    config = EfficiencyConfig(width=size, height=size, threads=2, device=device, min_seconds=efficiency_seconds,
                              experiment=opts.config or dataset, root=opts.root, dataset=dataset,
                              split=opts.splits[0])  # fmt: skip
    echo_table(efficiency(config, dataset, results))
    timings["efficiency"] = time.perf_counter() - start
    start = time.perf_counter()
    for dataset in opts.datasets:
        folder = results_folder(results, (dataset,)) / "figures"
        for path in on_main(lambda d=dataset, f=folder: make_figures(root, d, opts.splits[0], f)):
            echo(f"wrote {path}")
    timings["figures"] = time.perf_counter() - start
    echo("step times: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items()))
