"""``ufsn-bench flow-loss-floor``: EPE of the unsupervised loss's own optimum (a free flow field, no network)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from bench.commands.options import root_option


def parse_overrides(text: str) -> dict[str, object]:
    """``"w_census=0,census_patch=5"`` -> {"w_census": 0, "census_patch": 5}: LossConfig fields, values read as
    TOML (so integers stay integers). Unknown fields are a usage error naming the valid ones."""
    import tomllib

    from ufsn.flow.losses import LossConfig

    fields = {f.name for f in dataclasses.fields(LossConfig)}
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in fields:
            raise click.BadParameter(f"{item!r}: expected <field>=<number> with a LossConfig field "
                                     f"({', '.join(sorted(fields))})")  # fmt: skip
        try:
            out[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError as exc:
            raise click.BadParameter(f"{item!r}: {value!r} is not a number") from exc
    return out


def loss_rows(flow_cfg, vary: tuple[str, ...]) -> list[tuple[str, object]]:
    """(label, LossConfig) of the config's [loss], its [late_loss] if any, and each --vary of [loss]
    (built by the strict config loader, so a value the LossConfig rejects is a one-line error)."""
    from ufsn.config_loader import build
    from ufsn.errors import ConfigError
    from ufsn.flow.losses import LossConfig

    rows = [("loss", flow_cfg.loss)]
    if flow_cfg.late_loss is not None:
        rows.append(("late_loss", flow_cfg.late_loss))
    for text in vary:
        values = {**dataclasses.asdict(flow_cfg.loss), **parse_overrides(text)}
        try:
            rows.append((f"loss + {text}", build(LossConfig, values, file=f"--vary {text}", section="loss")))
        except ConfigError as exc:
            raise click.BadParameter(str(exc)) from exc
    return rows


@click.command("flow-loss-floor")
@root_option
@click.option("--dataset", required=True, help="Dataset folder with ground-truth flow (synthetic).")
@click.option("--split", type=int, default=1, show_default=True, help="Split whose test pairs are fitted.")
@click.option(
    "--config",
    default="flow_synthetic.toml",
    show_default=True,
    help="Stage-1 TOML: its [loss] (and [late_loss]) are fitted; [net] output_level sets the stride.",
)
@click.option(
    "--vary",
    multiple=True,
    metavar="FIELD=X[,FIELD=X]",
    help="Also fit [loss] with these LossConfig fields changed (repeatable), e.g. w_census=0.",
)
@click.option("--pairs", type=int, default=16, show_default=True, help="Evenly spaced test pairs.")
@click.option(
    "--init",
    type=click.Choice(["gt", "zero"]),
    default="gt",
    show_default=True,
    help="Start at the ground truth (the drift is the loss's bias) or at zero flow.",
)
@click.option("--steps", type=int, default=300, show_default=True, help="Adam steps per loss.")
@click.option(
    "--lr",
    type=float,
    default=0.05,
    show_default=True,
    help="Adam rate (px per step at the field's resolution); it drops 5x after 2/3 of the steps.",
)
@click.option("--threads", type=int, default=2, show_default=True, help="torch CPU threads.")
def flow_loss_floor(root, dataset, split, config, vary, pairs, init, steps, lr, threads):
    """EPE of a free flow field fitted to the stage-1 loss on test pairs: what the loss itself asks for.

    No network: one flow vector per output pixel is optimised on each pair, so the EPE is that of the
    flow the loss itself favours, which a network trained on it converges towards (given the steps that a
    budget may not give it). Prints the EPE of every pixel and, for background, boundary (within 3 px of
    an actor) and moving (> 1 px) pixels, their mean EPE and their part of the total; zero flow is the
    first row.
    """
    import numpy as np
    import torch

    from bench.stage1 import load_flow_config
    from ufsn.flow.evaluate import PIXEL_GROUPS, split_pairs
    from ufsn.flow.loss_floor import LossFloorConfig, fit_free_flow, group_errors
    from ufsn.layout import chw, unit_rgb

    torch.set_num_threads(threads)
    flow_cfg = load_flow_config(config)  # a missing or malformed config: a one-line error (bench.commands.errors)
    rows = loss_rows(flow_cfg, vary)
    fit = LossFloorConfig(steps=steps, lr=lr, init=init, stride=2**flow_cfg.net.output_level)
    pair_set = split_pairs(Path(root), dataset, split, "test", pairs)  # no split / ground truth: names the file
    img1, img2 = unit_rgb(np.stack(pair_set.img1)), unit_rgb(np.stack(pair_set.img2))  # (B, 3, H, W)
    gt = chw(np.stack(pair_set.flow)).float()  # (B, 2, H, W)
    click.echo(f"{len(pair_set.flow)} test pairs of {dataset} split {split}, field at 1/{fit.stride}, "
               f"{steps} Adam steps at lr {lr} from {init}")  # fmt: skip
    click.echo("| loss | EPE | EPE / zero | background (part) | boundary (part) | moving (part) |")
    click.echo("|---|---|---|---|---|---|")
    zero = group_errors(torch.zeros_like(gt), gt)

    def line(label, e):
        groups = " | ".join(f"{e[g]:.3f} ({e[g + '_part']:.4f})" for g in PIXEL_GROUPS)
        click.echo(f"| {label} | {e['epe']:.4f} | {e['epe'] / zero['epe']:.2f} | {groups} |")

    line("zero flow", zero)
    for label, loss in rows:
        line(label, group_errors(fit_free_flow(img1, img2, gt, loss, fit), gt))
