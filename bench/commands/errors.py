"""One-line errors: a ``ufsn-bench`` command whose inputs are missing or malformed prints what and why, no traceback."""

from __future__ import annotations

import os

import click

from ufsn.errors import NonFiniteLoss, UfsnError

# The project's own errors: inputs, configs and weights a user can fix, and a run that diverged (what and where).
# Anything else (a ValueError from torch or NumPy, an OSError) is a bug or an environment fault: it keeps its traceback.
USER_ERRORS = (UfsnError, NonFiniteLoss)
DEBUG_ENV = "UFSN_DEBUG"  # set to 1 to see the traceback behind a one-line error


WORKER_TRACEBACK = "Original Traceback (most recent call last):"  # torch re-raises a DataLoader worker's error so


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (wrapped lines joined); for an error raised in a DataLoader worker,
    the worker's own message (the last line of the traceback torch puts in the re-raised exception)."""
    message = str(exc)
    if WORKER_TRACEBACK in message:
        last = message.strip().splitlines()[-1]  # "ValueError: unreadable frame ..."
        prefix = f"{type(exc).__name__}: "
        message = (last[len(prefix) :] if last.startswith(prefix) else last) + " (in a DataLoader worker)"
    text = " ".join(message.split())
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
