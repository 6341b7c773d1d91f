"""``ufsn-data shards``: pack frames and TV-L1 flow into HDF5 shards + index.csv."""

from __future__ import annotations

import click

from pipeline.commands.options import dataset_option, force_option, parse_bytes, root_option
from ufsn.errors import UfsnError


@click.command("shards")
@root_option
@dataset_option
@click.option(
    "--shard-size",
    default="1GiB",
    show_default=True,
    help="A shard closes once it holds this many bytes of JPEG data (K/M/G/T are powers of 1024).",
)
@force_option
def shards(root, dataset, shard_size, force):
    """Pack frames/ and tvl1/ into shards/shard-NNNNN.h5 and shards/index.csv; resumes by default."""
    from pipeline.steps.shards import ShardsConfig, run_shards

    config = ShardsConfig(root=root, dataset=dataset, shard_size=parse_bytes(shard_size), force=force)
    try:
        summary = run_shards(config)
    except UfsnError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary.line())
    if summary.failed:
        raise SystemExit(1)
