"""``ufsn-bench figures``: flow panels and confusion matrices of a dataset's runs."""

from __future__ import annotations

import click

from bench.commands.options import results_option, root_option


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
    from bench.study_tables import results_folder

    folder = results_folder(results, (dataset,)) / "figures"
    for path in make_figures(root, dataset, split, folder, videos):
        click.echo(f"wrote {path}")
