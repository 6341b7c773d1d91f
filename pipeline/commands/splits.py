"""``ufsn-data splits``: write splits/split<k>.csv from the split definitions, optionally checked."""

from __future__ import annotations

import click

from pipeline.commands.options import dataset_option, official_option, root_option
from ufsn.errors import UfsnError


@click.command("splits")
@root_option
@dataset_option
@official_option("Required for HMDB-51; every difference from the rule is reported.")
@click.option(
    "--val-groups",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Datasets with groups: the last N train groups of each split become the val subset.",
)
@click.option(
    "--val-fraction",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    help="Datasets without groups (HMDB-51): share of each class's train videos drawn for val [default: 0.1].",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the per-class val draw.")
@click.option("--allow-missing", is_flag=True, help="Warn, instead of failing, when a listed video is absent.")
def splits(root, dataset, official, val_groups, val_fraction, seed, allow_missing):
    """Write <root>/<dataset>/splits/split<k>.csv (video_id,label,class,subset)."""
    from pipeline.steps.splits import SplitsConfig, run_splits

    config = SplitsConfig(
        root=root,
        dataset=dataset,
        official=official,
        val_groups=val_groups,
        val_fraction=val_fraction,
        seed=seed,
        allow_missing=allow_missing,
    )
    try:
        report = run_splits(config)
    except UfsnError as exc:
        raise click.ClickException(str(exc)) from exc
    for message in report.differences:
        click.echo(f"difference: {message}", err=True)
    for message in report.missing:
        click.echo(f"missing: {message}", err=True)
    for split, counts in report.counts.items():
        click.echo(f"split{split}: " + ", ".join(f"{n} {subset}" for subset, n in counts.items()))
    click.echo(f"{report.videos} videos found in {report.source}/ ({report.seconds:.1f} s)")
    if report.failed:
        raise click.ClickException(
            f"{len(report.differences)} differences from the official lists, {len(report.missing)} listed videos "
            "missing (--allow-missing to accept); nothing written"
        )
    if official is not None:
        extent = f"except {len(report.missing)} missing videos" if report.missing else "full agreement"
        click.echo(f"official lists in {official}: {extent}")
    click.echo("wrote " + ", ".join(str(p) for p in report.written))
