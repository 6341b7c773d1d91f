"""``ufsn-data extract``: videos -> JPEG frames (decord or torchcodec), resumable, local or on a dask cluster."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.commands.options import dataset_option, force_option, parse_size, root_option, workers_option
from pipeline.commands.parallel_options import backend_options, run_step


@click.command("extract")
@root_option
@dataset_option
@click.option(
    "--videos",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of <Class>/<video>.{avi,mp4,mkv,webm,mov,mpg,mpeg,flv,m4v} [default: ROOT/DATASET/videos].",
)
@click.option(
    "--size",
    help="Frame size WxH, or 'native'. [default: 340x256 for ucf101/hmdb51 (TSN, CoViAR), native otherwise]",
)
@click.option("--short-side", type=click.IntRange(min=8), help="Resize keeping the aspect ratio: short side in px.")
@click.option(
    "--fps", type=click.FloatRange(min=0, min_open=True), help="Resample to this frame rate [default: keep all frames]."
)
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True, help="JPEG quality (libjpeg).")
@click.option(
    "--allow-truncated",
    is_flag=True,
    help="Keep videos that decode more than one frame short of their header (default: a failed row).",
)
@click.option(
    "--decoder",
    type=click.Choice(["decord", "torchcodec"]),
    default="decord",
    show_default=True,
    help="decord: its bundled FFmpeg, CPU only (OpenCV if it cannot open a file). torchcodec: the system's "
    "FFmpeg 4-9 shared libraries (apt-get install ffmpeg), on the CPU or with --device cuda on NVDEC.",
)
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="cuda: decode on the NVIDIA GPU's NVDEC (--decoder torchcodec only; needs a CUDA build of torch).",
)
@workers_option(default=1)
@backend_options
@force_option
def extract(root, dataset, videos, size, short_side, fps, quality, allow_truncated, decoder, device, workers, backend,
            scheduler, force):  # fmt: skip
    """Extract 1-indexed JPEG frames: ROOT/DATASET/frames/<video_id>/img_00001.jpg ...

    Both decoders give the frames the ffmpeg command line decodes, pixel for pixel on the UCF-101 and
    HMDB-51 clips measured (docs/decoders.md). The decoder and device are recorded in
    frames/extract_config.json: a rerun with another one is refused unless --force.
    """
    from pipeline.steps.extract import ExtractConfig, run_extract

    native = size is not None and size.lower() == "native"
    run_step(
        lambda: ExtractConfig(
            root=root,
            dataset=dataset,
            videos=videos,
            size=None if native else parse_size(size),
            short_side=short_side,
            native=native,
            fps=fps,
            quality=quality,
            allow_truncated=allow_truncated,
            decoder=decoder,
            device=device,
            workers=workers,
            backend=backend,
            scheduler=scheduler,
            force=force,
        ),
        run_extract,
    )
