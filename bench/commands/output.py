"""What the ufsn-bench commands print: a written table, a run record."""

from __future__ import annotations

import click


def echo_table(written) -> None:
    """Runs left out (stderr), the table as Markdown, then the files written (a bench.study_tables.WrittenTable)."""
    from bench.tables import to_markdown

    for line in written.left_out:
        click.echo(line, err=True)
    click.echo(to_markdown(written.table))
    paths = written.paths
    click.echo(f"wrote {paths['csv']}, {paths['tex']}, {paths['md']}")


def echo_record(record) -> None:
    """One line: the run's top-1 / top-5 / mean class accuracy, each stream's top-1, time and device."""
    m = record.metrics
    line = f"{record.name}: top1 {100 * m['top1']:.1f}%  top5 {100 * m['top5']:.1f}%"
    line += f"  mean class {100 * m['mean_class_acc']:.1f}%"
    for stream, sm in record.stream_metrics.items():
        line += f"  [{stream} top1 {100 * sm['top1']:.1f}%]"
    click.echo(line + f"  ({record.seconds:.0f} s training, weights {record.weights}, {record.device})")
