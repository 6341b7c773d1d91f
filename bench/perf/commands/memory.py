"""``ufsn-bench perf memory``: peak RSS of the data steps, stage 1 and stream training on N vs 10N videos."""

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
@click.option(
    "--frames", type=click.IntRange(min=2), default=8, show_default=True, help="Frames of the shortest video."
)
@click.option("--max-frames", type=click.IntRange(min=2), default=32, show_default=True,
              help="Frames of the longest video; lengths are spread between the two, as UCF-101's differ.")  # fmt: skip
@click.option("--train-steps", type=click.IntRange(min=1), default=20, show_default=True,
              help="Stage-1 steps and training batches, equal at both sizes: only the data grows.")  # fmt: skip
@click.option("--size", default="64x64", show_default=True, help="Frame size WxH of the synthetic videos.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Workers of each data step and DataLoader workers of training.")  # fmt: skip
def perf_memory(work, small, large, frames, max_frames, train_steps, size, workers):
    """Peak RSS (largest process and process tree) of extract, tvl1, shards, stage 1 (train-flow) and stream
    training (train --method rgb) on --small and --large videos named as UCF-101's; prints a table with the
    large/small ratios. A ratio near 1.0 means memory does not grow with the number of videos."""
    import tempfile

    from bench.perf.memory import PerfMemoryConfig, format_table, run_perf_memory

    with tempfile.TemporaryDirectory(prefix="ufsn-perf-memory-") as tmp:
        try:
            config = PerfMemoryConfig(Path(work or tmp), small, large, frames, parse_size(size), workers,
                                      max_frames=max_frames, train_steps=train_steps)  # fmt: skip
            rows = run_perf_memory(config)
        except (RuntimeError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(format_table(rows, config))
