"""``ufsn-bench perf flow --train``: the stage-1 training step by part."""

from __future__ import annotations

from pathlib import Path

import click


def print_train_profile(root: Path, dataset: str, flow_config: str, threads: int, steps: int) -> None:
    """Load the config's training pairs, profile the step and print the Markdown table."""
    import torch

    from bench.flow_train_profile import profile_train_step, step_seconds
    from bench.inputs import require_dataset
    from bench.stage1 import load_flow_config
    from ufsn.distributed import pick_device
    from ufsn.flow_data import load_bank, split_videos

    cfg = load_flow_config(flow_config, root=str(root), dataset=dataset)
    paths = require_dataset(root, dataset)
    torch.set_num_threads(threads)
    device = pick_device(cfg.device)
    bank = load_bank(paths, split_videos(paths, cfg.split, ("train",)))
    parts = profile_train_step(cfg, bank, device, steps=steps)
    h, w = cfg.crop or tuple(bank.frames.shape[-2:])
    pairs = cfg.batch_size * (2 if cfg.bidirectional else 1)
    click.echo(
        f"## Stage-1 training step: {flow_config} on {dataset}, batch {cfg.batch_size} ({pairs} pairs "
        f"through the net), {w}x{h} crops, {threads} threads, device {device}, {steps} steps\n"
    )
    click.echo("| part | ms/step | share |\n|---|---:|---:|")
    *rows, convs = parts
    for p in rows:
        click.echo(f"| {p.part} | {p.ms:.1f} | {100 * p.share:.0f}% |")
    click.echo(
        f"\n{convs.part}: {convs.ms:.1f} ms/step, {100 * convs.share:.0f}% of the step. A change that leaves "
        f"the convolutions as they are makes the step at most {1 / max(convs.share, 1e-9):.2f}x faster."
    )
    loop = step_seconds(cfg, bank, device, "loop", steps)
    auto = step_seconds(cfg, bank, device, "auto", steps)
    click.echo(
        f"\nwhole step, measured alternately in this run: cost volume as the 81-shift loop on every level "
        f"{1e3 * loop:.1f} ms, default (patch form up to 64 px) {1e3 * auto:.1f} ms: {loop / auto:.2f}x"
    )
