"""``ufsn-bench train``: one method (and the runs it needs), trained, evaluated and recorded."""

from __future__ import annotations

import click

from bench.commands.options import root_option
from bench.method_models import METHODS


@click.command("train")
@root_option
@click.option("--dataset", required=True, help="Dataset folder under the root (needs splits/ and shards/ or frames/).")
@click.option("--method", required=True,
              type=click.Choice(list(METHODS)),
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
@click.option("--no-progress", is_flag=True, help="No progress bars or lines.")
def train(root, dataset, method, split, config, overrides, name, resume, force, device, weights, flow_weights,
          no_progress):  # fmt: skip
    """Train one method (and the runs it needs), evaluate it and write its run record.

    Under torchrun (e.g. torchrun --nproc-per-node 8 $(which ufsn-bench) train ...) it trains with DDP.
    """
    from bench.commands.output import echo_record
    from bench.train_method import TrainOptions, train_method

    options = TrainOptions(root=root, dataset=dataset, method=method, split=split, config=config or dataset,
                           overrides=tuple(overrides), name=name, resume=resume, force=force, device=device,
                           weights=weights, flow_weights=flow_weights, progress=not no_progress)  # fmt: skip
    record = train_method(options)  # inputs, configs, divergence: one-line errors (bench.commands.errors)
    echo_record(record)  # rank 0 only
