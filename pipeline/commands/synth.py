"""``ufsn-data synth``: write the synthetic dataset with exact ground-truth flow."""

from __future__ import annotations

import click

from pipeline.commands.options import parse_size, root_option, workers_option
from ufsn.errors import ConfigError


def _parse_classes(text: str | None) -> tuple[int | None, int | None]:
    if text is None:
        return None, None
    try:
        families, motions = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected FAMILIESxMOTIONS such as 4x3, got {text!r}") from None
    return families, motions


@click.command("synth")
@root_option
@click.option(
    "--preset",
    type=click.Choice(["tiny", "demo", "full"]),
    default="demo",
    show_default=True,
    help="Size preset: tiny (tests: 2x2 classes, 100 clips of 8 frames at 64x64), "
    "demo (4x3 classes, 1200 clips of 8 frames at 64x64), full (6x4 classes, 2400 clips of 32 frames at 160x128).",
)
@click.option("--classes", help="Classes as FAMILIESxMOTIONS, e.g. 4x3 = 4 appearance families x 3 motions.")
@click.option("--groups", type=click.IntRange(1, 99), help="Groups per class (UCF-101 uses 25: g01..g25).")
@click.option("--clips", type=click.IntRange(1, 99), help="Clips per group.")
@click.option("--frames", type=click.IntRange(min=2), help="Frames per clip.")
@click.option("--size", help="Frame size WxH, e.g. 112x112.")
@click.option(
    "--max-motion",
    type=click.FloatRange(min=0.5),
    help="Largest actor speed in px/frame; speeds are log-uniform from 1 [default: 10].",
)
@click.option("--seed", type=int, help="Random seed; the same seed gives identical files [default: 0].")
@click.option("--quality", type=click.IntRange(1, 100), help="MJPG quality of the videos [default: 95].")
@workers_option(default=1)
@click.option("--force", is_flag=True, help="Re-render clips that already exist.")
def synth(root, preset, classes, groups, clips, frames, size, max_motion, seed, quality, workers, force):
    """Write the synthetic dataset: videos, exact flow and classes.csv."""
    from pipeline.synth.dataset import preset as make_preset
    from pipeline.synth.dataset import run_synth

    families, motions = _parse_classes(classes)
    wh = parse_size(size)
    config = make_preset(
        preset,
        root=root,
        families=families,
        motions=motions,
        groups=groups,
        clips=clips,
        frames=frames,
        width=wh.width if wh else None,
        height=wh.height if wh else None,
        max_motion=max_motion,
        seed=seed,
        quality=quality,
        workers=workers,
        force=force or None,
    )
    try:
        summary = run_synth(config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(
        f"synthetic dataset: {summary.classes} classes, {summary.videos} videos x {summary.frames_per_video} frames "
        f"at {summary.size[0]}x{summary.size[1]}, {summary.bytes_on_disk / 2**20:.1f} MiB in {summary.folder} "
        f"({summary.seconds:.1f} s)"
    )
