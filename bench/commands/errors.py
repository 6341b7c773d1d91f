"""One-line errors: a ``ufsn-bench`` command whose inputs are missing or malformed prints what and why, no traceback."""

from __future__ import annotations

import os

import click

# Raised by the library for inputs a user can fix (missing files, malformed CSV/TOML, runs that exist).
USER_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError, ValueError)
DEBUG_ENV = "UFSN_DEBUG"  # set to 1 to see the traceback behind a one-line error


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (wrapped lines joined)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class OneLineErrorGroup(click.Group):
    """A command group whose commands report ``USER_ERRORS`` as ``Error: <one line>`` and exit 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            raise click.ClickException(one_line(exc)) from exc

