"""Click options shared by the ufsn-bench commands (each defined once)."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.commands.options import root_option  # noqa: F401  (the same --root as ufsn-data)


def results_option(func):
    return click.option(
        "--results",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("results"),
        show_default=True,
        help="Folder for tables and figures: <results>/<dataset>/<table>.{csv,tex,md}.",
    )(func)


def study_options(func):
    """--dataset (repeatable), --splits, --config, --set, --no-train, --device, --no-progress."""
    options = [
        click.option("--dataset", "datasets", multiple=True, required=True,
                     help="Dataset (repeat for one column per dataset, e.g. --dataset ucf101 --dataset hmdb51)."),
        click.option("--splits", default="1,2,3", show_default=True,
                     help="Splits to train and average, comma-separated (papers report the mean of the three)."),
        click.option("--config", default=None, help="Experiment config [default: the dataset's bench/configs file]."),
        click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help="Config override."),
        click.option("--no-train", is_flag=True, help="Only tabulate the runs that exist; train nothing."),
        click.option("--device", default="auto", show_default=True, help="auto (cuda when available), cpu, cuda."),
        click.option("--no-progress", is_flag=True, help="No progress bars or lines."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def build_options(root, datasets, splits, results, config, overrides, no_train, device, no_progress):
    """The frozen StudyOptions of a command's parsed options."""
    from bench.study import StudyOptions

    try:
        split_list = tuple(int(s) for s in splits.split(","))
    except ValueError:
        raise click.BadParameter(f"--splits must look like 1,2,3, got {splits!r}") from None
    return StudyOptions(root=Path(root), datasets=tuple(datasets), splits=split_list, results=Path(results),
                        train=not no_train, config=config, overrides=tuple(overrides), device=device,
                        progress=not no_progress)  # fmt: skip


def resolve_checkpoint(root: Path, dataset: str, checkpoint: Path | None, run: str | None) -> tuple[Path, Path | None]:
    """(checkpoint path, run folder or None); exactly one of --checkpoint / --run."""
    from bench.runs import CHECKPOINT, run_dir

    if (checkpoint is None) == (run is None):
        raise click.UsageError("give exactly one of --checkpoint and --run")
    if run is not None:
        folder = run_dir(root, dataset, run)
        if not (folder / CHECKPOINT).is_file():
            variant, _, split = run.removeprefix("flow-").rpartition("-split")
            raise click.ClickException(
                f"no checkpoint {folder / CHECKPOINT}; train it with `ufsn-bench train-flow --root {root} "
                f"--dataset {dataset} --variant {variant or '<variant>'} --split {split or '<k>'}`"
            )
        return folder / CHECKPOINT, folder
    return checkpoint, None
