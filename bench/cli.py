"""``ufsn-bench``: the command group (modules in bench/commands/; the benchmarks in bench/perf/commands/)."""

from __future__ import annotations

import click

from bench.commands.ablations import ablations
from bench.commands.all import all_tables
from bench.commands.compare import compare
from bench.commands.errors import OneLineErrorGroup
from bench.commands.evaluate import evaluate
from bench.commands.figures import figures
from bench.commands.flow_eval import flow_eval
from bench.commands.flow_loss_floor import flow_loss_floor
from bench.commands.real_flow import real_flow
from bench.commands.train import train
from bench.commands.train_flow import train_flow
from bench.perf.commands.efficiency import efficiency
from bench.perf.commands.perf import perf


@click.group(cls=OneLineErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ufsn")
def main():
    """Experiments of ufsn: training, evaluation, tables, figures and benchmarks.

    Missing or malformed inputs are reported on one line (set UFSN_DEBUG=1 for the traceback).
    """


main.add_command(perf)
main.add_command(train_flow)
main.add_command(flow_eval)
main.add_command(real_flow)
main.add_command(flow_loss_floor)
main.add_command(efficiency)
main.add_command(train)
main.add_command(evaluate)
main.add_command(compare)
main.add_command(ablations)
main.add_command(figures)
main.add_command(all_tables)


if __name__ == "__main__":
    main()
