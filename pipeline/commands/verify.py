"""``ufsn-data verify``: decode every stored frame and check counts and checksums."""

from __future__ import annotations

import click

from pipeline.commands.options import dataset_option, root_option
from ufsn.errors import UfsnError


@click.command("verify")
@root_option
@dataset_option
def verify(root, dataset):
    """Check every shard of the dataset; exit 1 naming each bad video and shard."""
    from pipeline.steps.verify import VerifyConfig, run_verify

    try:
        report = run_verify(VerifyConfig(root=root, dataset=dataset))
    except UfsnError as exc:
        raise click.ClickException(str(exc)) from exc
    for problem in report.problems:
        click.echo(f"bad: {problem.shard} {problem.video_id}: {problem.message}", err=True)
    bad = len({(p.shard, p.video_id) for p in report.problems})
    click.echo(
        f"verify: {report.shards} shards, {report.videos} videos, {report.images} JPEGs decoded, "
        f"{bad} bad in {report.seconds:.1f} s"
    )
    if report.problems:
        raise SystemExit(1)
