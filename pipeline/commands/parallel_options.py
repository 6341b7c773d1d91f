"""Click options of the per-video steps (extract, tvl1): where tasks run, and the exit summary."""

from __future__ import annotations

import click


def backend_options(func):
    """``--backend local|dask`` and ``--scheduler ADDR``."""
    func = click.option(
        "--scheduler",
        metavar="ADDR",
        help="dask.distributed scheduler address for --backend dask, e.g. tcp://10.0.0.1:8786. "
        "Workers must see the same --root path (shared filesystem).",
    )(func)
    return click.option(
        "--backend",
        type=click.Choice(["local", "dask"]),
        default="local",
        show_default=True,
        help="local: --workers joblib processes on this machine; dask: the tasks of an existing cluster.",
    )(func)


def finish(summary) -> None:
    """Print the step summary; exit 1 when any video failed."""
    click.echo(summary.line())
    if summary.failed:
        raise SystemExit(1)
