"""``ufsn-bench perf flow``: frames/s of the UF estimator vs TV-L1 / DIS / Farneback, and a profile of the net."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("flow")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Data root (default $UFSN_DATA or ./data).")
@click.option("--dataset", default="synthetic", show_default=True, help="Dataset whose first test pair is timed.")
@click.option("--checkpoint", type=click.Path(exists=True, path_type=Path), default=None, help="Stage-1 checkpoint.")
@click.option("--run", default=None, help="Stage-1 run name (uses its checkpoint).")
@click.option("--size", default="224x224", show_default=True, help="Resolution WxH of the measurement.")
@click.option("--threads", type=int, default=2, show_default=True, help="CPU threads for every method.")
@click.option("--seconds", type=float, default=3.0, show_default=True, help="Timing window per measurement.")
@click.option(
    "--train",
    "train_step",
    is_flag=True,
    help="Profile a stage-1 training step by part instead (data, forward, loss terms, backward, optimiser).",
)
@click.option(
    "--config",
    "flow_config",
    default="flow_synthetic_study.toml",
    show_default=True,
    help="--train: the stage-1 config whose step is profiled.",
)
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True, help="--train: timed steps.")
def perf_flow(root, dataset, checkpoint, run, size, threads, seconds, train_step, flow_config, steps):
    """Speed of every flow method on the same pair and where the network's time goes; with --train,
    where a stage-1 training step's time goes."""
    import torch

    if train_step:
        from bench.commands.perf_flow_train import print_train_profile
        from pipeline.paths import default_root

        print_train_profile(root or default_root(), dataset, flow_config, threads, steps)
        return

    from bench.commands.flow_eval import resolve_checkpoint
    from bench.flow_profile import benchmark_corr, profile_parts
    from pipeline.commands.options import parse_size
    from pipeline.paths import default_root
    from ufsn.distributed import pick_device
    from ufsn.flow_eval import FlowEvalConfig, evaluate_methods, markdown_table, split_pairs, to_tensor
    from ufsn.flow_train import load_estimator

    root = root or default_root()
    ckpt, _ = resolve_checkpoint(root, dataset, checkpoint, run)
    device = pick_device("auto")
    net = load_estimator(ckpt, device)
    speed_size = parse_size(size)
    w, h = speed_size.width, speed_size.height
    cfg = FlowEvalConfig(dataset=dataset, max_pairs=1, speed_size=speed_size, speed_seconds=seconds, threads=threads)
    pairs = split_pairs(root, dataset, 1, "test", 1)
    rows = list(evaluate_methods(net, pairs, cfg, device))
    click.echo(f"## Speed at {w}x{h}, {threads} threads, device {device} (accuracy columns: 1 pair only)\n")
    click.echo(markdown_table(rows))
    import cv2

    a, b = (cv2.resize(x, (w, h)) for x in (pairs.img1[0], pairs.img2[0]))
    click.echo(f"\n## Where the net's time goes (batch 1, {w}x{h})\n\n| part | ms | share |\n|---|---|---|")
    for p in profile_parts(net, to_tensor(a, device), to_tensor(b, device)):
        click.echo(f"| {p.part} | {p.ms:.2f} | {100 * p.share:.0f}% |")
    fh, fw = -(-h // 4), -(-w // 4)
    click.echo(f"\n## Cost volume forms (batch 8, 32 channels, {fw}x{fh}: the 1/4 level; R = 4)\n")
    click.echo("| form | forward ms | forward+backward ms | memory kept for backward (MB) |\n|---|---|---|---|")
    torch.set_num_threads(threads)
    for c in benchmark_corr(8, 32, fh, fw):
        click.echo(f"| {c.form} | {c.forward_ms:.1f} | {c.train_ms:.1f} | {c.extra_mb:.1f} |")
