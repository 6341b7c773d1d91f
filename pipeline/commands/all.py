"""``ufsn-data all``: extract, tvl1, shards and splits in order, with one summary at the end."""

from __future__ import annotations

import click

from pipeline.commands.options import (
    dataset_option,
    force_option,
    official_option,
    parse_bytes,
    root_option,
    workers_option,
)
from pipeline.commands.parallel_options import backend_options


@click.command("all")
@root_option
@dataset_option
@workers_option(default=1)
@backend_options
@click.option("--shard-size", default="1GiB", show_default=True, help="Bytes of JPEG data per shard.")
@official_option("Splits: checked against them (required for HMDB-51).")
@click.option("--allow-missing", is_flag=True, help="Splits: warn instead of failing when a listed video is absent.")
@click.option("--val-groups", type=click.IntRange(min=0), default=2, show_default=True, help="Splits: val groups.")
@click.option("--size", help="Extract: frame size WxH [default: 340x256 for ucf101/hmdb51, native otherwise].")
@click.option("--short-side", type=click.IntRange(min=8), help="Extract: resize the short side to this instead.")
@click.option("--fps", type=click.FloatRange(min=0.1), help="Extract: resample to this frame rate.")
@click.option("--decoder", type=click.Choice(["decord", "torchcodec"]), default="decord", show_default=True,
              help="Extract: video decoder (see ufsn-data extract --help).")  # fmt: skip
@click.option("--decode-device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Extract: cuda decodes on the GPU (NVDEC, --decoder torchcodec only).")  # fmt: skip
@force_option
def all_steps(root, dataset, workers, backend, scheduler, shard_size, official, allow_missing, val_groups, size,
              short_side, fps, decoder, decode_device, force):  # fmt: skip
    """Run extract -> tvl1 -> shards -> splits, stopping at the first step that fails."""
    from pipeline.commands.options import parse_size
    from pipeline.steps.all_steps import STEPS, AllConfig, run_all

    config = AllConfig(
        root=root,
        dataset=dataset,
        workers=workers,
        backend=backend,
        scheduler=scheduler,
        force=force,
        shard_size=parse_bytes(shard_size),
        official=official,
        allow_missing=allow_missing,
        val_groups=val_groups,
        size=parse_size(size),
        short_side=short_side,
        fps=fps,
        decoder=decoder,
        device=decode_device,
    )
    report = run_all(config)
    click.echo("summary:")
    for result in report.steps:
        click.echo(f"  {'ok  ' if result.ok else 'FAIL'} {result.line}")
    for step in STEPS[len(report.steps) :]:
        click.echo(f"  skip {step}: not run (an earlier step failed)")
    click.echo(f"total {report.seconds:.1f} s")
    if not report.ok:
        raise SystemExit(1)
