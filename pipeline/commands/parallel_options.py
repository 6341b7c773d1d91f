"""Click options of the per-video steps (extract, tvl1): where tasks run, and the exit summary."""

from __future__ import annotations

import click

from ufsn.errors import ConfigError, UfsnError


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


def run_step(make_config, run) -> None:
    """Build the step's config with ``make_config()``, ``run(config)`` it and report like every data command.

    Exit codes as in every ``ufsn-data`` command: options that contradict each other (the config refuses
    them) are a usage error, exit 2; a failure of the data or the disk (no videos, a bad file name,
    settings that differ from the existing output, an unwritable folder, a missing device) is a one-line
    error, exit 1. Then :func:`finish`.
    """
    try:
        config = make_config()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        summary = run(config)
    except UfsnError as exc:
        raise click.ClickException(str(exc)) from exc
    finish(summary)


def finish(summary) -> None:
    """Print the step summary; exit 1 when any video failed."""
    click.echo(summary.line())
    if summary.failed:
        raise SystemExit(1)
