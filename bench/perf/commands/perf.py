"""``ufsn-bench perf``: benchmarks that print ratios against a baseline measured in the same run."""

from __future__ import annotations

import click

from bench.perf.commands.extract import perf_extract
from bench.perf.commands.flow import perf_flow
from bench.perf.commands.loader import loader
from bench.perf.commands.memory import perf_memory
from bench.perf.commands.train import perf_train
from bench.perf.commands.tvl1 import perf_tvl1


@click.group("perf")
def perf():
    """Benchmarks: extract, loader, flow, memory, train, tvl1 (each prints ratios or rates measured in the same run)."""


perf.add_command(perf_extract)
perf.add_command(loader)
perf.add_command(perf_flow)
perf.add_command(perf_memory)
perf.add_command(perf_train)
perf.add_command(perf_tvl1)
