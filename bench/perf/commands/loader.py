"""``ufsn-bench perf loader``: HDF5 shards vs frame folders through the same TSN sampler."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.commands.options import dataset_option, root_option


@click.command("loader")
@root_option
@dataset_option
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True, help="DataLoader workers.")
@click.option("--segments", type=click.IntRange(min=1), default=3, show_default=True, help="TSN segments K.")
@click.option("--size", type=click.IntRange(min=8), default=224, show_default=True, help="Crop side in px.")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True, help="Clips per batch.")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Passes over the videos in the warm measurement.",
)
@click.option(
    "--modality", "modalities", multiple=True, type=click.Choice(["rgb", "flow"]), help="Repeatable [default: both]."
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the table (Markdown) here.")
def loader(root, dataset, workers, segments, size, batch, epochs, modalities, out):
    """Clips/s warm and cold, bytes and files: shards vs frames/ + tvl1/ (needs both on disk)."""
    from bench.perf.loader import LoaderBenchConfig, format_table, run_loader_bench

    config = LoaderBenchConfig(
        root=root,
        dataset=dataset,
        modalities=tuple(modalities) or ("rgb", "flow"),
        workers=workers,
        segments=segments,
        size=size,
        batch=batch,
        epochs=epochs,
    )
    try:
        results, disk = run_loader_bench(config)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    table = format_table(config, results, disk)
    click.echo(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table + "\n", encoding="utf-8")
