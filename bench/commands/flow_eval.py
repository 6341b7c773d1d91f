"""``ufsn-bench flow-eval``: EPE / outliers / frames/s of UF flow vs TV-L1, DIS, Farneback on the same pairs."""

from __future__ import annotations

from pathlib import Path

import click

from bench.commands.options import resolve_checkpoint, root_option


def write_rows_csv(path: Path, rows) -> None:
    """Rows of FlowEvalRow as CSV (atomic)."""
    import csv
    import io

    from pipeline.storage.atomic import atomic_write_text
    from ufsn.flow.evaluate import CSV_COLUMNS

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(["" if getattr(r, c) is None else getattr(r, c) for c in CSV_COLUMNS])
    atomic_write_text(Path(path), buf.getvalue())


@click.command("flow-eval")
@root_option
@click.option("--dataset", required=True, help="Dataset folder name (its test split gives the pairs).")
@click.option("--checkpoint", type=click.Path(exists=True, path_type=Path), default=None, help="Stage-1 checkpoint.")
@click.option("--run", default=None, help="Stage-1 run name (its checkpoint; flow_metrics go into its record).")
@click.option("--split", type=int, default=1, show_default=True, help="Split whose test subset is evaluated.")
@click.option(
    "--subset",
    type=click.Choice(["test", "val"]),
    default="test",
    show_default=True,
    help="Subset of the split: val while choosing configs, test for the reported figures.",
)
@click.option("--pairs-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), multiple=True,
              help="Benchmark folders instead of the split: Middlebury (frame10.png, frame11.png, flow10.flo), "
                   "MPI-Sintel (clean|final/<scene>/, flow/, occlusions/, invalid/), KITTI-2015 (image_2/, "
                   "flow_occ/, flow_noc/) or FlyingChairs (*_img1.ppm, *_img2.ppm, *_flow.flo).")  # fmt: skip
@click.option("--format", "flow_format", type=click.Choice(["auto", "middlebury", "sintel", "kitti", "chairs"]),
              default="auto", show_default=True, help="Layout of the --pairs-dir folders; auto: detected.")  # fmt: skip
@click.option("--sintel-pass", type=click.Choice(["clean", "final"]), default="clean", show_default=True,
              help="MPI-Sintel rendering pass.")  # fmt: skip
@click.option(
    "--max-pairs", type=int, default=400, show_default=True, help="Evenly spaced pairs of the split (0 = all)."
)
@click.option("--size", default="224x224", show_default=True, help="Resolution WxH of the frames/s measurement.")
@click.option("--threads", type=int, default=2, show_default=True, help="CPU threads for every method.")
@click.option("--seconds", type=float, default=3.0, show_default=True, help="Timing window per speed measurement.")
@click.option("--no-speed", is_flag=True, help="Accuracy only.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="CSV output (default: stdout table only).")
@click.argument("more_pairs", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
def flow_eval(root, dataset, checkpoint, run, split, subset, pairs_dir, flow_format, sintel_pass, max_pairs, size,
              threads, seconds, no_speed, out, more_pairs):  # fmt: skip
    """End-point error and speed of the UF flow estimator against TV-L1, DIS and Farneback.

    Extra arguments are more pair folders, so a shell glob works: ``--pairs-dir .../middlebury_*``.
    EPE noc / EPE occ split the valid pixels by the benchmark's occlusion masks (Sintel, KITTI
    flow_noc); Fl-all is KITTI's outlier share: error above 3 px and above 5% of the true motion.
    """
    pairs_dir = (*pairs_dir, *more_pairs)
    from bench.runs import update_record
    from pipeline.commands.options import parse_size
    from pipeline.storage.paths import default_root
    from ufsn.distributed import pick_device
    from ufsn.flow.evaluate import (
        FlowEvalConfig,
        evaluate_methods,
        flow_metrics,
        folder_formats,
        folder_pairs,
        markdown_table,
        split_pairs,
    )
    from ufsn.flow.train import load_estimator

    root = root or default_root()
    ckpt, folder = resolve_checkpoint(root, dataset, checkpoint, run)
    try:
        formats = folder_formats(list(pairs_dir), flow_format)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    name = dataset if not pairs_dir else "+".join(p.name for p in pairs_dir)
    cfg = FlowEvalConfig(dataset=name, max_pairs=max_pairs or None, speed_size=parse_size(size), threads=threads,
                         speed_seconds=seconds,
                         with_speed=not no_speed)  # fmt: skip
    pairs = (
        folder_pairs(list(pairs_dir), flow_format, sintel_pass)
        if pairs_dir
        else split_pairs(root, dataset, split, subset, cfg.max_pairs)
    )
    device = pick_device("auto")
    net = load_estimator(ckpt, device)
    rows = list(evaluate_methods(net, pairs, cfg, device))
    click.echo(markdown_table(rows))
    if out is not None:
        write_rows_csv(out, rows)
        click.echo(f"wrote {out}")
    if folder is not None:
        key = "+".join(sorted(set(formats))) if pairs_dir else f"split{split}_{subset}"
        from bench.runs import load_record

        metrics = dict(load_record(folder).flow_metrics)
        metrics[key] = flow_metrics(rows)
        update_record(folder, flow_metrics=metrics)
        click.echo(f"flow_metrics[{key!r}] written to {folder / 'record.json'}")
