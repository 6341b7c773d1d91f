"""``ufsn-bench perf``: benchmarks that print ratios against a baseline measured in the same run."""

from __future__ import annotations

import click


@click.group("perf")
def perf():
    """Benchmarks (DESIGN.md section 7): extract, loader, flow."""
