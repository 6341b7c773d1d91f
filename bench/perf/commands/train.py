"""``ufsn-bench perf train``: clips/s of each training step beside the loader, and the full study's time."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.commands.options import root_option


@click.command("train")
@root_option
@click.option(
    "--dataset",
    default="ucf101",
    show_default=True,
    help="Whose config (bench/configs/<dataset>.toml) and shards; the estimate is for its full split 1.",
)
@click.option("--config", default=None, help="Experiment config [default: the dataset's].")
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=None,
    help="Clips (stage 1: pairs) per step for every stage [default: each stage's config batch].",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Timed steps per stage, after one warm-up step.",
)
@click.option("--device", default="auto", show_default=True, help="auto (cuda when available), cpu, cuda.")
@click.option(
    "--ddp",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also time the temporal step in this many gloo processes on CPU and report DDP efficiency.",
)
@click.option("--no-loader", is_flag=True, help="Skip the shard-loader measurement.")
@click.option(
    "--train-clips",
    type=click.IntRange(min=1),
    default=None,
    help="Clips per epoch in the estimate [default: the official split-1 train list, 9537 for ucf101].",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the report (Markdown) here.")
@click.option("--no-progress", is_flag=True, help="No progress bar or lines.")
def perf_train(root, dataset, config, batch, steps, device, ddp, no_loader, train_clips, out, no_progress):
    """Clips/s of the spatial, temporal, stage-3 and stage-1 training steps at the config's input
    (K segments, crop, batch; AMP on CUDA) beside the shard loader's clips/s, and what the full
    split-1 study would take on this hardware."""
    from bench.perf.train import PerfTrainConfig, run_perf_train

    options = PerfTrainConfig(root=root, dataset=dataset, config=config, batch=batch, steps=steps, device=device,
                              ddp=ddp, loader=not no_loader, train_clips=train_clips,
                              progress=not no_progress)  # fmt: skip
    report = run_perf_train(options)
    click.echo(report)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report + "\n", encoding="utf-8")
