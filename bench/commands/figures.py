"""``ufsn-bench figures`` and ``ufsn-bench all``."""

from __future__ import annotations

import click

from bench.commands.efficiency import efficiency as efficiency_command
from bench.commands.options import results_folder, results_option, root_option
from bench.commands.study import build_options, run_ablations, run_compare, study_options


@click.command("figures")
@root_option
@click.option("--dataset", required=True, help="Dataset whose runs are drawn.")
@click.option("--split", type=int, default=1, show_default=True, help="Split of the runs and test videos.")
@click.option(
    "--videos", type=click.IntRange(min=1), default=4, show_default=True, help="Test videos in the flow panel."
)
@results_option
def figures(root, dataset, split, videos, results):
    """Flow visualisations (RGB | TV-L1 | supervised | UF-TSN | ground truth) and confusion matrices as PNG."""
    from bench.figures import make_figures

    folder = results_folder(results, (dataset,)) / "figures"
    for path in make_figures(root, dataset, split, folder, videos):
        click.echo(f"wrote {path}")


@click.command("all")
@root_option
@study_options
@results_option
@click.option("--efficiency-seconds", type=float, default=1.0, show_default=True, help="Timing budget per speed cell.")
def all_tables(root, datasets, splits, config, overrides, no_train, device, no_progress, results, efficiency_seconds):
    """compare, ablations, efficiency and figures for the dataset(s) (data steps not included)."""
    import time

    from bench.figures import make_figures

    opts = build_options(root, datasets, splits, results, config, overrides, no_train, device, no_progress)
    timings = {}
    for name, step in (("compare", run_compare), ("ablations", run_ablations)):
        start = time.perf_counter()
        click.echo(f"== {name}")
        step(opts)
        timings[name] = time.perf_counter() - start
    start = time.perf_counter()
    click.echo("== efficiency")
    ctx = click.get_current_context()
    ctx.invoke(efficiency_command, dataset=opts.datasets[0], size=None, threads=2, device=device, no_raft=False,
               seconds=efficiency_seconds, results=results)  # fmt: skip
    timings["efficiency"] = time.perf_counter() - start
    start = time.perf_counter()
    for dataset in opts.datasets:
        folder = results_folder(results, (dataset,)) / "figures"
        for path in make_figures(root, dataset, opts.splits[0], folder):
            click.echo(f"wrote {path}")
    timings["figures"] = time.perf_counter() - start
    click.echo("step times: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items()))
