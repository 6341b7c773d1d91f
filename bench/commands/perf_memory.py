"""``ufsn-bench perf memory``: peak RSS of extract, tvl1 and shards on N vs 10N videos."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.commands.options import parse_size


@click.command("memory")
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    help="Scratch folder for the two data roots [default: a temporary folder, removed afterwards].",
)
@click.option("--small", type=click.IntRange(min=1), default=10, show_default=True, help="Videos in the baseline.")
@click.option("--large", type=click.IntRange(min=1), default=100, show_default=True, help="Videos compared.")
@click.option("--frames", type=click.IntRange(min=2), default=8, show_default=True, help="Frames per video.")
@click.option("--size", default="64x64", show_default=True, help="Frame size WxH of the synthetic videos.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Workers of each step.")
def perf_memory(work, small, large, frames, size, workers):
    """Peak RSS (largest process and process tree) of the data steps; prints a table with ratios."""
    import tempfile

    from bench.perf_memory import PerfMemoryConfig, format_table, run_perf_memory

    with tempfile.TemporaryDirectory(prefix="ufsn-perf-memory-") as tmp:
        config = PerfMemoryConfig(Path(work or tmp), small, large, frames, parse_size(size), workers)
        try:
            rows = run_perf_memory(config)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(format_table(rows, config))
