"""``ufsn-data adopt``: take an existing rawframe tree (denseflow, mmaction2, TSN) into ufsn's layout."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.commands.options import dataset_option, force_option, root_option, workers_option
from pipeline.commands.parallel_options import finish
from ufsn.errors import ConfigError, UfsnError


def _start_index(value: str):
    return value if value == "auto" else int(value)


@click.command("adopt")
@root_option
@dataset_option
@click.option("--frames", "frames_tree", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Rawframe tree: <video>/img_<i>.jpg or <Class>/<video>/img_<i>.jpg.")  # fmt: skip
@click.option("--flow", "flow_tree", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Tree of the flow images, when not beside the frames [default: the --frames tree].")  # fmt: skip
@click.option("--no-flow", is_flag=True, help="Adopt the frames only; `ufsn-data tvl1` computes the flow.")
@click.option("--start-index", type=click.Choice(["auto", "0", "1"]), default="auto", show_default=True,
              help="Number of the first frame and flow pair: 0 (denseflow), 1 (mmaction2, TSN); auto: 0 when "
                   "any sampled folder has file 0.")  # fmt: skip
@click.option("--flow-names", type=click.Choice(["auto", "flow_x", "x"]), default="auto", show_default=True,
              help="flow_x_<i>/flow_y_<i> (denseflow, mmaction2) or x_<i>/y_<i>; auto: what the tree has.")  # fmt: skip
@click.option("--bound", type=click.FloatRange(min=0, min_open=True),
              help="Px the flow was clipped to before mapping onto 0..255 (TSN, mmaction2 tools, ufsn: 20; "
                   "denseflow's default: 32). Required when flow is adopted.")  # fmt: skip
@click.option("--link", type=click.Choice(["auto", "hard", "copy"]), default="auto", show_default=True,
              help="auto: hard links, copies where the file system refuses; hard: fail rather than copy.")  # fmt: skip
@click.option("--check", type=click.Choice(["decode", "markers"]), default="decode", show_default=True,
              help="decode: decode every image and check sizes agree; markers: only check each file is a "
                   "whole JPEG/PNG (start and end markers), without decoding.")  # fmt: skip
@workers_option(default=1)
@force_option
def adopt(root, dataset, frames_tree, flow_tree, no_flow, start_index, flow_names, bound, link, check, workers, force):
    """Adopt an existing tree of frames and TV-L1 flow instead of decoding again.

    \b
    Each video folder becomes
      ROOT/DATASET/frames/<video>/img_00001.jpg ...    (1-based, as ufsn and mmaction2)
      ROOT/DATASET/tvl1/<video>/flow_x_00001.jpg ...
    hard-linked from the tree (copied where links are refused), never decoded again.

    \b
    Checked per video: frames and pairs numbered without gaps, flow pairs = frames - 1,
    x and y images paired, every image whole (and decoding, at one size, with --check decode).
    A video that fails gets one manifest line naming the file (manifest/adopt.csv); the rest go on.
    Where the tree came from and how it is numbered go into frames/extract_config.json and
    tvl1/tvl1_config.json. Rerunning skips videos already adopted.

    \b
    Then: ufsn-data shards and ufsn-data splits (or ufsn-data all, which skips extract and tvl1
    for an adopted tree).
    """
    from pipeline.steps.adopt import AdoptConfig, describe, run_adopt

    try:
        config = AdoptConfig(
            frames=frames_tree, root=root, dataset=dataset, flow=flow_tree, with_flow=not no_flow,
            start_index=_start_index(start_index), flow_names=flow_names, bound=bound, link=link, check=check,
            workers=workers, force=force,
        )  # fmt: skip
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        report = run_adopt(config)
    except UfsnError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(describe(report, config.bound))
    finish(report.summary)
