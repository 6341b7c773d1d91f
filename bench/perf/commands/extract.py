"""``ufsn-bench perf extract``: frames/s of extract vs ffmpeg and torchcodec vs decord, TV-L1 with 1 vs N workers."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.commands.options import parse_size, root_option


@click.command("extract")
@root_option
@click.option(
    "--dataset", default="ucf101", show_default=True, help="Dataset whose videos are timed when --videos is not given."
)
@click.option(
    "--videos",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of <Class>/<video> files [default: ROOT/DATASET/videos].",
)
@click.option("--size", default="340x256", show_default=True, help="Frame size WxH on both sides.")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True, help="extract's JPEG quality.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Processes on both sides.")
@click.option("--repeats", type=click.IntRange(min=1), default=2, show_default=True, help="Best of N timings.")
@click.option("--tvl1-pairs", type=click.IntRange(min=2), default=16, show_default=True, help="TV-L1 pairs timed.")
@click.option("--ffmpeg", help="ffmpeg binary [default: system ffmpeg, else imageio-ffmpeg's].")
@click.option(
    "--copies",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Use every video this many times (symlinks), so per-run fixed costs weigh as little as on a real dataset.",
)
def perf_extract(root, dataset, videos, size, quality, workers, repeats, tvl1_pairs, ffmpeg, copies):
    """Frames/s of extract vs the ffmpeg CLI and of torchcodec vs decord, TV-L1 parallel efficiency; prints a table.

    The torchcodec rows are left out, with the reason, when FFmpeg's shared libraries are missing.
    """
    import tempfile

    from bench.perf.extract import PerfExtractConfig, format_table, run_perf_extract
    from pipeline.readers.video import find_videos
    from pipeline.storage.paths import DatasetPaths

    if videos is None:
        videos = DatasetPaths(root, dataset).videos
        if not videos.is_dir():
            raise click.ClickException(f"no videos folder {videos}: give --videos DIR (<Class>/<video> files)")
    sources = find_videos(videos)
    if not sources:
        raise click.ClickException(f"no videos under {videos}/<Class>/")
    with tempfile.TemporaryDirectory(prefix="ufsn-perf-videos-") as tmp:
        videos = Path(tmp)
        for copy in range(copies):
            for source in sources:
                link = videos / source.parent.name / f"{source.stem}_copy{copy}{source.suffix}"
                link.parent.mkdir(exist_ok=True)
                link.symlink_to(source.resolve())
        config = PerfExtractConfig(videos, parse_size(size), quality, workers, repeats, tvl1_pairs, ffmpeg)
        result = run_perf_extract(config)
    click.echo(format_table(result, config))
