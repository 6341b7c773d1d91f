"""``ufsn-data``: the data command group (each command lives in pipeline/commands/)."""

from __future__ import annotations

import click

from pipeline.commands.adopt import adopt
from pipeline.commands.all import all_steps
from pipeline.commands.check import check
from pipeline.commands.extract import extract
from pipeline.commands.lists import lists
from pipeline.commands.shards import shards
from pipeline.commands.splits import splits
from pipeline.commands.synth import synth
from pipeline.commands.tvl1 import tvl1
from pipeline.commands.verify import verify


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ufsn")
def main():
    """Data steps of ufsn: synthetic data, frames, TV-L1 flow, shards, splits, mmaction2 lists, adopted frame trees."""


main.add_command(synth)
main.add_command(splits)
main.add_command(shards)
main.add_command(verify)
main.add_command(extract)
main.add_command(tvl1)
main.add_command(all_steps)
main.add_command(check)
main.add_command(lists)
main.add_command(adopt)
