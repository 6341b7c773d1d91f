"""``ufsn-bench perf``: benchmarks that print ratios against a baseline measured in the same run."""

from __future__ import annotations

import click

from bench.commands.perf_extract import perf_extract
from bench.commands.perf_flow import perf_flow
from bench.commands.perf_loader import loader
from bench.commands.perf_memory import perf_memory


@click.group("perf")
def perf():
    """Benchmarks (DESIGN.md section 7): extract, loader, flow, memory."""


perf.add_command(perf_extract)
perf.add_command(loader)
perf.add_command(perf_flow)
perf.add_command(perf_memory)
