"""``ufsn-bench train-flow``: stage 1 (the flow estimator), written as run ``flow-<variant>-split<K>``."""

from __future__ import annotations

import click

from bench.commands.options import root_option
from ufsn.flow.variants import VARIANTS

DEFAULT_CONFIG = "flow_synthetic.toml"  # in bench/configs


@click.command("train-flow")
@root_option
@click.option("--dataset", required=True, help="Dataset folder name, e.g. synthetic, ucf101.")
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="full", show_default=True,
              help="full; the seed's ablations nms (w/o multi-scale) and nocv-nms (w/o cost volume & multi-scale); "
                   "oracle (supervised on ground truth).")  # fmt: skip
@click.option("--split", type=int, default=1, show_default=True, help="Split k (trains on its train subset).")
@click.option(
    "--config",
    "config_path",
    default=None,
    help="Stage-1 config: a bench/configs name (e.g. flow_synthetic) or a TOML path [default: flow_synthetic].",
)
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value, e.g. --set net.max_displacement=3 --set loss.w_census=0.5.")  # fmt: skip
@click.option("--steps", type=int, default=None, help="Override the number of optimiser steps.")
@click.option("--max-minutes", type=float, default=None, help="Override the wall-clock budget (minutes).")
@click.option("--name", default=None, help="Run name (default flow-<variant>-split<K>).")
@click.option("--resume", is_flag=True, help="Continue an existing run from its checkpoint.")
@click.option("--force", is_flag=True, help="Replace an existing run.")
@click.option("--no-progress", is_flag=True, help="No progress bar or lines.")
def train_flow(root, dataset, variant, split, config_path, overrides, steps, max_minutes, name, resume, force,
               no_progress):  # fmt: skip
    """Train the flow estimator (stage 1) and write its run record and checkpoint."""
    from bench.commands.output import echo
    from bench.runs import run_dir
    from bench.stage1 import load_flow_config, train_flow_run
    from pipeline.storage.paths import default_root
    from ufsn.errors import ConfigError

    root = root or default_root()
    try:
        cfg = load_flow_config(
            config_path or DEFAULT_CONFIG, tuple(overrides), root=str(root), dataset=dataset, variant=variant,
            split=split, steps=steps, max_minutes=max_minutes,
        )  # fmt: skip
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc
    record = train_flow_run(cfg, name=name, resume=resume, force=force, progress=not no_progress)
    result = record.flow_metrics
    folder = run_dir(root, dataset, record.name)
    name = record.name
    val = "n/a" if result["val_epe"] is None else f"{result['val_epe']:.3f} px"
    echo(f"{name}: {result['steps']} steps in {record.seconds / 60:.1f} min, {record.params:,} params, val EPE {val}")
    echo(f"run folder: {folder}")
