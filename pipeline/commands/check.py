"""``ufsn-data check``: validate a downloaded dataset (folders, counts, decodable files, split names)."""

from __future__ import annotations

import click

from pipeline.commands.options import dataset_option, official_option, root_option, workers_option
from ufsn.errors import UfsnError

SHOWN_PER_KIND = 20  # a half-downloaded UCF-101 can miss thousands of listed names


@click.command("check")
@root_option
@dataset_option
@official_option("Every name they list must be on disk.")
@workers_option(default=2)
@click.option("--no-decode", is_flag=True, help="Skip decoding the first and last frame of every video.")
def check(root, dataset, official, workers, no_decode):
    """Check <root>/<dataset>/videos before extraction; exit 1 listing every problem."""
    from pipeline.steps.check import KINDS, CheckConfig, run_check
    from pipeline.storage.paths import printable

    config = CheckConfig(root=root, dataset=dataset, official=official, workers=workers, decode=not no_decode)
    try:
        report = run_check(config)
    except UfsnError as exc:
        raise click.ClickException(str(exc)) from exc
    for kind in KINDS:
        found = [p for p in report.problems if p.kind == kind]
        for problem in found[:SHOWN_PER_KIND]:
            click.echo(f"{kind}: {printable(problem.path)}: {problem.message}", err=True)
        if len(found) > SHOWN_PER_KIND:
            click.echo(f"{kind}: ... and {len(found) - SHOWN_PER_KIND} more", err=True)
    classes = f"{report.classes_found}/{report.classes_expected}" if report.classes_expected else report.classes_found
    videos = f"{report.videos}/{report.videos_expected}" if report.videos_expected else report.videos
    counts = ", ".join(
        f"{sum(p.kind == k for p in report.problems)} {k}" for k in KINDS if any(p.kind == k for p in report.problems)
    )
    decoded = f"{report.decoded} decode" if config.decode else "decode skipped"
    listed = f", {report.listed} names in the official lists" if official is not None else ""
    click.echo(f"check {dataset}: {classes} class folders, {videos} videos, {decoded}{listed} ({report.seconds:.1f} s)")
    if not report.ok:
        raise click.ClickException(f"{len(report.problems)} problems ({counts})")
    click.echo("ok: ready for ufsn-data all")
