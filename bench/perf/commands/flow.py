"""``ufsn-bench perf flow``: frames/s of the UF estimator vs TV-L1 / DIS / Farneback, and a profile of the net."""

from __future__ import annotations

from pathlib import Path

import click

from bench.commands.options import resolve_checkpoint, root_option


@click.command("flow")
@root_option
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
        from pipeline.storage.paths import default_root

        _print_train_profile(root or default_root(), dataset, flow_config, threads, steps)
        return

    from bench.perf.flow_profile import benchmark_corr, profile_parts
    from pipeline.commands.options import parse_size
    from pipeline.storage.paths import default_root
    from ufsn.distributed import pick_device
    from ufsn.flow.evaluate import FlowEvalConfig, evaluate_methods, markdown_table, split_pairs, to_tensor
    from ufsn.flow.train import load_estimator

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


def _print_train_profile(root: Path, dataset: str, flow_config: str, threads: int, steps: int) -> None:
    """Load the config's training pairs, profile the step and print the Markdown table."""
    import torch

    from bench.inputs import require_dataset
    from bench.perf.flow_train_profile import profile_train_step, step_seconds
    from bench.stage1 import load_flow_config
    from ufsn.distributed import pick_device
    from ufsn.flow.corr import PATCH_FORM_MAX_PIXELS, CostVolume, ReferenceCostVolume
    from ufsn.flow.data import DatasetPaths
    from ufsn.flow.pairs import pair_dataset
    from ufsn.flow.train import training_videos

    cfg = load_flow_config(flow_config, root=str(root), dataset=dataset)
    require_dataset(root, dataset)
    torch.set_num_threads(threads)
    device = pick_device(cfg.device)
    data = pair_dataset(root, dataset, training_videos(cfg, DatasetPaths(root, dataset)),
                        augment=cfg.pair_augment(), seed=cfg.seed)  # fmt: skip
    parts = profile_train_step(cfg, data, device, steps=steps)
    h, w = cfg.crop or tuple(data[0].img1.shape[-2:])
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
    reference = step_seconds(cfg, data, device, ReferenceCostVolume, steps)
    default = step_seconds(cfg, data, device, CostVolume, steps)
    click.echo(
        f"\nwhole step, measured alternately in this run: cost volume as the 81-shift reference loop on every level "
        f"{1e3 * reference:.1f} ms, default (patches up to {PATCH_FORM_MAX_PIXELS} px, else shifts with an in-place "
        f"backward) {1e3 * default:.1f} ms: {reference / default:.2f}x"
    )
