"""What the ufsn-bench commands print: a written table, a run record."""

from __future__ import annotations

import os

import click


def main_process() -> bool:
    """True in a single process and on torchrun's rank 0: the one process that prints results."""
    return os.environ.get("RANK", "0") == "0"


def echo(text: str = "", err: bool = False) -> None:
    """``click.echo`` on the main process only (under torchrun the other ranks stay quiet)."""
    if main_process():
        click.echo(text, err=err)


def echo_table(written) -> None:
    """Runs left out (stderr), the table as Markdown, then the files written (a bench.study_tables.WrittenTable)."""
    from bench.tables import to_markdown

    for line in written.left_out:
        echo(line, err=True)
    echo(to_markdown(written.table))
    paths = written.paths
    echo(f"wrote {paths['csv']}, {paths['tex']}, {paths['md']}")


def echo_record(record) -> None:
    """One line: the run's top-1 / top-5 / mean class accuracy, each stream's top-1, time and device."""
    m = record.metrics
    line = f"{record.name}: top1 {100 * m['top1']:.1f}%  top5 {100 * m['top5']:.1f}%"
    line += f"  mean class {100 * m['mean_class_acc']:.1f}%"
    for stream, sm in record.stream_metrics.items():
        line += f"  [{stream} top1 {100 * sm['top1']:.1f}%]"
    echo(line + f"  ({record.seconds:.0f} s training, weights {record.weights}, {record.device})")
