"""``ufsn-bench evaluate``: the test protocol on a trained run."""

from __future__ import annotations

import click

from bench.commands.options import root_option


@click.command("evaluate")
@root_option
@click.option("--dataset", required=True, help="Dataset folder under the root.")
@click.option("--run", "name", required=True, help="Run name, e.g. ufsn-split1.")
@click.option("--crops", type=click.Choice(["center", "ten"]), default=None,
              help="Test crops [default: the run's config; CoViAR/DMC-Net: centre].")  # fmt: skip
@click.option("--device", default="auto", show_default=True, help="auto (cuda when available), cpu, cuda.")
@click.option("--no-progress", is_flag=True, help="No progress bars or lines.")
def evaluate(root, dataset, name, crops, device, no_progress):
    """Run the test protocol on a trained run (25 snippets by default) and update its record."""
    from bench.commands.output import echo_record
    from bench.train_method import evaluate_run

    crops_n = {"center": 1, "ten": 10}.get(crops)
    record = evaluate_run(root, dataset, name, test_crops=crops_n, device=device, progress=not no_progress)
    echo_record(record)
