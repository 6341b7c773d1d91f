"""``ufsn-bench efficiency``: params, GMACs, GFLOPs and FPS of every flow source, in one harness."""

from __future__ import annotations

import click

from bench.commands.options import results_option, root_option


@click.command("efficiency")
@root_option
@click.option(
    "--dataset",
    default="ucf101",
    show_default=True,
    help="Measure at this dataset's network input size (its config's crop: 224x224 for ucf101/hmdb51).",
)
@click.option("--size", help="Input size WxH instead of the dataset's, e.g. 224x224.")
@click.option("--split", type=click.IntRange(min=1), default=1, show_default=True,
              help="Split of the trained stage-1 runs whose checkpoints give the estimators' networks.")  # fmt: skip
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="Threads for every method.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda when available), cpu or cuda.")
@click.option("--no-raft", is_flag=True, help="Leave out torchvision RAFT-small.")
@click.option("--seconds", type=float, default=1.0, show_default=True, help="Timing budget per measurement.")
@results_option
def efficiency(root, dataset, size, split, threads, device, no_raft, seconds, results):
    """Write the efficiency table (measured rows + reported literature rows) and print it.

    Each UF estimator is the network the study trains: from the trained stage-1 run's checkpoint
    (ROOT/DATASET/runs/flow-<variant>-split<k>) when it exists, else from the dataset's stage-1 config
    (bench/configs/<dataset>.toml -> flow_config) with the variant's switches. The net_from column says which.
    """
    from bench.commands.output import echo_table
    from bench.perf.efficiency import EfficiencyConfig
    from bench.study_tables import efficiency as efficiency_study
    from bench.study_tables import input_size
    from pipeline.commands.options import parse_size

    if size:
        frame = parse_size(size)
        width, height = frame.width, frame.height
    else:
        try:
            width = height = input_size(dataset)
        except FileNotFoundError:
            raise click.UsageError(f"no bench/configs/{dataset}.toml: give --size WxH") from None
    config = EfficiencyConfig(width=width, height=height, threads=threads, device=device, raft=not no_raft,
                              min_seconds=seconds, experiment=dataset, root=root, dataset=dataset,
                              split=split)  # fmt: skip
    echo_table(efficiency_study(config, dataset, results))
