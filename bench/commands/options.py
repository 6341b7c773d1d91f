"""Click options shared by the ufsn-bench commands."""

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


def results_folder(results: Path, datasets: tuple[str, ...]) -> Path:
    """``results/<d1>_<d2>/`` for several datasets, ``results/<d>/`` for one."""
    return Path(results) / "_".join(datasets)
