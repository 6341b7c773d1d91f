"""``ufsn-bench real-flow``: stage 1 trained on the real clips, judged on held-out real pairs and real ground truth."""

from __future__ import annotations

from pathlib import Path

import click

from bench.commands.options import results_option, root_option

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"  # beside the repository


def _labelled(text: str) -> tuple[str, Path]:
    label, sep, path = text.rpartition("=")
    if not sep or not label:
        raise click.BadParameter(f"expected LABEL=CHECKPOINT, got {text!r}")
    if not Path(path).is_file():
        raise click.BadParameter(f"no checkpoint {path}")
    return label, Path(path)


@click.command("real-flow")
@root_option
@results_option
@click.option("--realdata", type=click.Path(exists=True, file_okay=False, path_type=Path), default=REALDATA,
              show_default="../shared/realdata",
              help="Real clips (ucf101_videos/, hmdb51_videos/) and ground-truth pairs (flow_gt/).")  # fmt: skip
@click.option(
    "--config", default="flow_realvideo", show_default=True, help="Stage-1 config (bench/configs name or path)."
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a stage-1 config value.")
@click.option("--steps", type=click.IntRange(min=1), help="Override the config's steps (a short check run).")
@click.option("--compare", "compare", multiple=True, metavar="LABEL=CHECKPOINT",
              help="Another stage-1 checkpoint to score beside it, e.g. 'UF (demo estimator)=data/synthetic/runs/"
                   "flow-full-split1/checkpoint.pt' (repeatable).")  # fmt: skip
@click.option("--max-pairs", type=click.IntRange(min=1), default=120, show_default=True,
              help="Held-out real frame pairs, evenly spaced over the last quarter of every clip.")  # fmt: skip
@click.option("--benchmark", "benchmarks", type=click.Choice(["middlebury", "kitti", "chairs"]), multiple=True,
              default=("middlebury", "kitti", "chairs"), show_default=True,
              help="Ground-truth groups to score (repeatable).")  # fmt: skip
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="CPU threads.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda when available), cpu or cuda.")
@click.option("--no-progress", is_flag=True, help="No progress bar or lines.")
def real_flow(root, results, realdata, config, overrides, steps, compare, max_pairs, benchmarks, threads, device,
              no_progress):  # fmt: skip
    """Train the flow estimator unsupervised on real clips and compare it with TV-L1, DIS and zero flow.

    \b
    1. The five real clips become ROOT/realclips (native 320x240 frames); split 1 trains on
       the first three quarters of every clip's frames and holds out the last quarter
       (no pair spans the cut).
    2. Stage 1 runs as ROOT/realclips/runs/flow-full-split1 (resumes when cut short).
    3. RESULTS/realclips/warping.{csv,md,tex}: photometric and census residuals after warping on
       held-out pairs; ground_truth.{csv,md,tex}: EPE and Fl-all on the real Middlebury, KITTI
       and FlyingChairs pairs. Residuals and EPE come with 95% bootstrap half-widths over pairs.
    """
    from bench.commands.output import echo
    from bench.real_flow import RealFlowConfig, run_real_flow
    from bench.tables import to_markdown

    cfg = RealFlowConfig(realdata=realdata, root=root, results=results, config=config, overrides=tuple(overrides),
                         steps=steps, compare=tuple(_labelled(c) for c in compare), max_pairs=max_pairs,
                         benchmarks=tuple(benchmarks),
                         threads=threads, device=device, progress=not no_progress)  # fmt: skip
    for what, result in run_real_flow(cfg):
        if what in ("warping", "ground truth"):
            table, paths = result
            echo(f"== {what}")
            echo(to_markdown(table))
            echo(f"wrote {paths['csv']}, {paths['md']}, {paths['tex']}")
        else:
            echo(f"{what}: done")
