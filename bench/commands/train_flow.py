"""``ufsn-bench train-flow``: stage 1 (the flow estimator), written as run ``flow-<variant>-split<K>``."""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "flow_synthetic.toml"


def load_flow_config(path: Path | None, **overrides):
    """FlowTrainConfig from a TOML file (top-level keys, [net], [loss]) plus command-line overrides."""
    import tomllib

    from ufsn.flow_train import FlowTrainConfig

    data = {}
    if path is not None:
        with Path(path).open("rb") as f:
            data = tomllib.load(f)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return FlowTrainConfig.from_dict(data)
    except TypeError as exc:
        raise click.BadParameter(f"{path}: {exc}") from exc


@click.command("train-flow")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Data root (default $UFSN_DATA or ./data).")
@click.option("--dataset", required=True, help="Dataset folder name, e.g. synthetic, ucf101.")
@click.option("--variant", type=click.Choice(["full", "nms", "nocv-nms", "oracle"]), default="full", show_default=True,
              help="full; the seed's ablations nms (w/o multi-scale) and nocv-nms (w/o cost volume & multi-scale); "
                   "oracle (supervised on ground truth).")  # fmt: skip
@click.option("--split", type=int, default=1, show_default=True, help="Split k (trains on its train subset).")
@click.option("--config", "config_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="TOML config (default bench/configs/flow_synthetic.toml).")  # fmt: skip
@click.option("--steps", type=int, default=None, help="Override the number of optimiser steps.")
@click.option("--max-minutes", type=float, default=None, help="Override the wall-clock budget (minutes).")
@click.option("--name", default=None, help="Run name (default flow-<variant>-split<K>).")
@click.option("--resume", is_flag=True, help="Continue an existing run from its checkpoint.")
@click.option("--force", is_flag=True, help="Replace an existing run.")
@click.option("--no-progress", is_flag=True, help="No tqdm bar.")
def train_flow(root, dataset, variant, split, config_path, steps, max_minutes, name, resume, force, no_progress):
    """Train the flow estimator (stage 1) and write its run record and checkpoint."""
    from bench.runs import RunRecord, git_commit, now_iso, prepare_run, write_record
    from pipeline.paths import default_root
    from ufsn.flow_train import NonFiniteLoss
    from ufsn.flow_train import train_flow as run

    root = root or default_root()
    cfg = load_flow_config(
        config_path or DEFAULT_CONFIG, root=str(root), dataset=dataset, variant=variant, split=split,
        steps=steps, max_minutes=max_minutes,
    )  # fmt: skip
    name = name or f"flow-{variant}-split{split}"
    try:
        folder = prepare_run(root, dataset, name, resume=resume, force=force)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        result = run(cfg, folder, resume=resume, progress=not no_progress)
    except NonFiniteLoss as exc:
        raise click.ClickException(str(exc)) from exc
    record = RunRecord(
        name=name, method=f"flow-{variant}", dataset=dataset, split=split,
        flow_metrics={"val_epe": result.val_epe, "steps": result.steps, "stopped_early": result.stopped_early},
        params=result.params, config=cfg.to_dict(), weights="random", device=result.device,
        seconds=round(result.seconds, 1), git_commit=git_commit(), created=now_iso(),
    )  # fmt: skip
    write_record(folder, record)
    val = "n/a" if result.val_epe is None else f"{result.val_epe:.3f} px"
    click.echo(
        f"{name}: {result.steps} steps in {result.seconds / 60:.1f} min, {result.params:,} params, val EPE {val}"
    )
    click.echo(f"run folder: {folder}")
