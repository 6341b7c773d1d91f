"""``ufsn-data tvl1``: frames -> Dual TV-L1 flow images (OpenCV or PyTorch), resumable, local or on a dask cluster."""

from __future__ import annotations

import click

from pipeline.commands.options import dataset_option, force_option, root_option, workers_option
from pipeline.commands.parallel_options import backend_options, run_step
from pipeline.steps.tvl1.devices import DEVICES, IMPLS
from pipeline.steps.tvl1.params import TVL1Params
from pipeline.steps.tvl1.video import FORMATS

# Defaults below are OpenCV's cv::optflow::DualTVL1OpticalFlow::create defaults (see TVL1Params).


@click.command("tvl1")
@root_option
@dataset_option
@click.option("--tau", type=float, default=0.25, show_default=True, help="Time step (OpenCV default).")
@click.option(
    "--lambda", "lambda_", type=float, default=0.15, show_default=True, help="Data-term weight (OpenCV default)."
)
@click.option("--theta", type=float, default=0.3, show_default=True, help="Coupling weight (OpenCV default).")
@click.option(
    "--nscales", type=click.IntRange(min=1), default=5, show_default=True, help="Pyramid levels (OpenCV default)."
)
@click.option(
    "--warps", type=click.IntRange(min=1), default=5, show_default=True, help="Warps per level (OpenCV default)."
)
@click.option("--epsilon", type=float, default=0.01, show_default=True, help="Stopping threshold (OpenCV default).")
@click.option(
    "--inner-iterations", type=click.IntRange(min=1), default=30, show_default=True, help="CPU only (OpenCV default)."
)
@click.option(
    "--outer-iterations", type=click.IntRange(min=1), default=10, show_default=True, help="CPU only (OpenCV default)."
)
@click.option(
    "--scale-step",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.8,
    show_default=True,
    help="Pyramid scale factor (OpenCV default).",
)
@click.option("--gamma", type=float, default=0.0, show_default=True, help="Illumination term weight (OpenCV default).")
@click.option(
    "--median-filtering",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="CPU only: flow median filter size (OpenCV default; CUDA has none).",
)
@click.option(
    "--cuda-iterations",
    type=click.IntRange(min=1),
    help="CUDA only: iterations [default: inner x outer = 300, CUDA's default].",
)
@click.option(
    "--bound",
    type=click.FloatRange(min=0, min_open=True),
    default=20.0,
    show_default=True,
    help="Clip flow to +-bound px, map onto 0..255 (TSN; denseflow uses 32, dense_flow 15).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="jpg",
    show_default=True,
    help="Flow image format (png is lossless).",
)
@click.option(
    "--quality", type=click.IntRange(1, 100), default=95, show_default=True, help="JPEG quality of the flow images."
)
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="cpu",
    show_default=True,
    help="With --impl opencv, cuda needs OpenCV built with CUDA; with --impl torch, a CUDA build of torch.",
)
@click.option(
    "--impl",
    type=click.Choice(IMPLS),
    default="opencv",
    show_default=True,
    help="opencv: cv2.optflow (cv2.cuda on --device cuda). torch: the same algorithm in PyTorch, "
    "batched, on any device torch sees (ufsn-bench perf tvl1 compares the two).",
)
@click.option(
    "--batch",
    type=click.IntRange(min=0),
    default=0,
    show_default="0 = auto",
    help="--impl torch: consecutive pairs of a video computed at once. Auto: 1 for a 340x256 pair on a CPU "
    "(fastest there), about 2^17 pixels per call on a CPU and 2^23 on a GPU.",
)
@click.option(
    "--compile/--no-compile",
    "compile_",
    default=True,
    show_default=True,
    help="--impl torch: torch.compile the iteration (needs a C++ compiler on cpu, triton on cuda); "
    "a one-off build of ~20-30 s per worker, then about twice OpenCV's speed on a CPU core.",
)
@workers_option(default=1)
@backend_options
@force_option
def tvl1(root, dataset, bound, fmt, quality, device, impl, batch, compile_, workers, backend, scheduler, force,
         **params):  # fmt: skip
    """Compute TV-L1 flow: ROOT/DATASET/tvl1/<video_id>/flow_x_00001.jpg, flow_y_00001.jpg ...

    A rerun with other settings (parameters, bound, format, device or --impl) is refused unless --force.
    """
    from pipeline.steps.tvl1.step import TVL1Config, run_tvl1  # here: it loads torch (--help stays instant)

    run_step(
        lambda: TVL1Config(
            root=root,
            dataset=dataset,
            params=TVL1Params(**params),
            bound=bound,
            format=fmt,
            quality=quality,
            device=device,
            impl=impl,
            batch=batch,
            compile=compile_,
            workers=workers,
            backend=backend,
            scheduler=scheduler,
            force=force,
        ),
        run_tvl1,
    )
