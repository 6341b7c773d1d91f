"""``ufsn-bench train`` and ``ufsn-bench evaluate``."""

from __future__ import annotations

import click

from bench.commands.options import root_option


def _print_record(record) -> None:
    m = record.metrics
    line = f"{record.name}: top1 {100 * m['top1']:.1f}%  top5 {100 * m['top5']:.1f}%"
    line += f"  mean class {100 * m['mean_class_acc']:.1f}%"
    for stream, sm in record.stream_metrics.items():
        line += f"  [{stream} top1 {100 * sm['top1']:.1f}%]"
    click.echo(line + f"  ({record.seconds:.0f} s training, weights {record.weights}, {record.device})")


@click.command("train")
@root_option
@click.option("--dataset", required=True, help="Dataset folder under the root (needs splits/ and shards/ or frames/).")
@click.option("--method", required=True,
              type=click.Choice(["rgb", "tvl1", "supflow", "ufsn", "ufsn-nms", "ufsn-nocv-nms", "gtflow"]),
              help="rgb: spatial stream; tvl1: + temporal on TV-L1; supflow: + supervised flow on the fly "
                   "(RAFT-small, or the oracle on synthetic); ufsn: UF-TSN; ufsn-nms / ufsn-nocv-nms: "
                   "its ablations; gtflow (synthetic only): + temporal on exact ground-truth flow, the "
                   "ceiling of every flow source under the same classifier.")  # fmt: skip
@click.option("--split", type=int, default=None, help="Split k [default: the config's, 1].")
@click.option(
    "--config", default=None, help="Experiment config: a bench/configs name or a TOML path [default: the dataset's]."
)
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value, e.g. --set spatial.model.arch=resnet18 --set input.crop=112.")  # fmt: skip
@click.option("--name", default=None, help="Run name [default: <method>-split<k>].")
@click.option("--resume", is_flag=True, help="Continue an existing run from its last checkpoint.")
@click.option("--force", is_flag=True, help="Replace an existing run.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda when available), cpu, cuda.")
@click.option("--weights", default="", help="Backbone state-dict path for both streams (instead of ImageNet/random).")
@click.option("--flow-weights", default="", help="RAFT-small weights for supflow on real data [default: torch cache].")
@click.option("--no-progress", is_flag=True, help="No tqdm bars.")
def train(root, dataset, method, split, config, overrides, name, resume, force, device, weights, flow_weights,
          no_progress):  # fmt: skip
    """Train one method (and the runs it needs), evaluate it and write its run record.

    Under torchrun (e.g. torchrun --nproc-per-node 8 $(which ufsn-bench) train ...) it trains with DDP.
    """
    from bench.commands.errors import one_line
    from bench.train_method import TrainOptions, train_method
    from ufsn.train import NonFiniteLoss

    options = TrainOptions(root=root, dataset=dataset, method=method, split=split, config=config or dataset,
                           overrides=tuple(overrides), name=name, resume=resume, force=force, device=device,
                           weights=weights, flow_weights=flow_weights, progress=not no_progress)  # fmt: skip
    try:
        record = train_method(options)  # missing inputs: one-line errors (bench.commands.errors)
    except NonFiniteLoss as exc:  # like train-flow: what diverged and where, no traceback
        raise click.ClickException(one_line(exc)) from exc
    if record is not None:
        _print_record(record)


@click.command("evaluate")
@root_option
@click.option("--dataset", required=True, help="Dataset folder under the root.")
@click.option("--run", "name", required=True, help="Run name, e.g. ufsn-split1.")
@click.option("--crops", type=click.Choice(["center", "ten"]), default=None,
              help="Test crops [default: the run's config; CoViAR/DMC-Net: centre].")  # fmt: skip
@click.option("--device", default="auto", show_default=True, help="auto (cuda when available), cpu, cuda.")
@click.option("--no-progress", is_flag=True, help="No tqdm bars.")
def evaluate(root, dataset, name, crops, device, no_progress):
    """Run the test protocol on a trained run (25 snippets by default) and update its record."""
    from bench.train_method import evaluate_run

    crops_n = {"center": 1, "ten": 10}.get(crops)
    record = evaluate_run(root, dataset, name, test_crops=crops_n, device=device, progress=not no_progress)
    _print_record(record)
