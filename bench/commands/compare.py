"""``ufsn-bench compare``: train what is missing, then write the comparison table."""

from __future__ import annotations

import click

from bench.commands.options import build_options, results_option, root_option, study_options


@click.command("compare")
@root_option
@study_options
@results_option
def compare(root, datasets, splits, config, overrides, no_train, device, no_progress, results):
    """Comparison table: measured methods beside the seed's reported numbers (CSV, LaTeX, Markdown)."""
    from bench.commands.output import echo_table
    from bench.study_tables import comparison

    echo_table(comparison(build_options(root, datasets, splits, results, config, overrides, no_train, device,
                                        no_progress)))  # fmt: skip
