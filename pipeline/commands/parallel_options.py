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


def run_step(step) -> None:
    """Run ``step()`` (build the config, run the batch step) and report like every per-video command.

    Bad options or inputs are usage errors; an output folder that cannot be made or written (OSError)
    or a device error (RuntimeError) is a one-line message, not a traceback. Then :func:`finish`.
    """
    try:
        summary = step()
    except (ValueError, FileNotFoundError) as exc:
        raise click.UsageError(str(exc)) from exc
    except (OSError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    finish(summary)


def finish(summary) -> None:
    """Print the step summary; exit 1 when any video failed."""
    click.echo(summary.line())
    if summary.failed:
        raise SystemExit(1)
