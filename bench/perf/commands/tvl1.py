"""``ufsn-bench perf tvl1``: OpenCV's Dual TV-L1 against the PyTorch port, accuracy and pairs/s."""

from __future__ import annotations

from pathlib import Path

import click

from bench.commands.options import root_option

# Optional: the rows that need these real pairs and clips are left out when the folder is absent.
REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"


@click.command("tvl1")
@root_option
@click.option(
    "--realdata",
    type=click.Path(file_okay=False, path_type=Path),
    default=REALDATA,
    show_default="../shared/realdata",
    help="Middlebury pairs (flow_gt/) and UCF-101 clips (ucf101_videos/) for the real-data rows and the speed.",
)
@click.option(
    "--synthetic-pairs", type=click.IntRange(min=1), default=64, show_default=True, help="Synthetic test pairs."
)
@click.option("--ucf-pairs", type=click.IntRange(min=1), default=4, show_default=True, help="Pairs per UCF-101 clip.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="CPU threads of both.")
@click.option("--batches", default="4,12", show_default=True, help="Torch batches tried besides 1 (comma-separated).")
@click.option("--compile/--no-compile", "compile_", default=True, show_default=True,
              help="torch.compile the torch iteration (its one-off build is not timed).")  # fmt: skip
def perf_tvl1(root, realdata, synthetic_pairs, ucf_pairs, threads, batches, compile_):
    """EPE of both implementations against ground truth, EPE between them, and pairs/s on the same cores."""
    from bench.perf.tvl1 import PerfTVL1Config, format_tables, run_perf_tvl1

    try:
        sizes = tuple(int(b) for b in batches.split(",") if b.strip())
    except ValueError as exc:
        raise click.BadParameter(f"--batches wants integers like 4,12, got {batches!r}") from exc
    if any(b < 1 for b in sizes):
        raise click.BadParameter(f"--batches must be positive, got {batches!r}")
    synthetic = root if (Path(root) / "synthetic" / "flow_gt").is_dir() else None
    config = PerfTVL1Config(
        realdata=realdata if Path(realdata).is_dir() else None,
        synthetic_root=synthetic,
        synthetic_pairs=synthetic_pairs,
        ucf_pairs=ucf_pairs,
        threads=threads,
        batches=sizes or (1,),
        compile=compile_,
    )
    if config.realdata is None and config.synthetic_root is None:
        raise click.UsageError(f"nothing to compare: no {Path(root) / 'synthetic'} and no {realdata}")
    result = run_perf_tvl1(config, progress=lambda line: click.echo(line, err=True))
    click.echo(format_tables(result, config))
