"""``ufsn-bench efficiency``: params, GMACs, GFLOPs and FPS of every flow source, in one harness."""

from __future__ import annotations

import click

from bench.commands.options import results_option


@click.command("efficiency")
@click.option(
    "--dataset",
    default="ucf101",
    show_default=True,
    help="Measure at this dataset's network input size (its config's crop: 224x224 for ucf101/hmdb51).",
)
@click.option("--size", help="Input size WxH instead of the dataset's, e.g. 224x224.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="Threads for every method.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda when available), cpu or cuda.")
@click.option("--no-raft", is_flag=True, help="Leave out torchvision RAFT-small.")
@click.option("--seconds", type=float, default=1.0, show_default=True, help="Timing budget per measurement.")
@results_option
def efficiency(dataset, size, threads, device, no_raft, seconds, results):
    """Write the efficiency table (measured rows + reported literature rows) and print it."""
    from bench.commands.output import echo_table
    from bench.efficiency import EfficiencyConfig
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
                              min_seconds=seconds)  # fmt: skip
    echo_table(efficiency_study(config, dataset, results))
