"""``ufsn-bench ablations``: train what is missing, then write the ablation table."""

from __future__ import annotations

import click

from bench.commands.options import build_options, results_option, root_option, study_options


@click.command("ablations")
@root_option
@study_options
@results_option
def ablations(root, datasets, splits, config, overrides, no_train, device, no_progress, results):
    """Ablation table: ground-truth flow (datasets that have it), TV-L1, supervised flow, w/o cost volume &
    multi-scale, w/o multi-scale, UF-TSN; top-1 and flow EPE, each with its 95% interval."""
    from bench.commands.output import echo_table
    from bench.study_tables import ablations as ablation_study

    echo_table(ablation_study(build_options(root, datasets, splits, results, config, overrides, no_train, device,
                                            no_progress)))  # fmt: skip
