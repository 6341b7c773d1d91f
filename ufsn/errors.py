"""The project's own errors: what a user can fix (inputs, configs, weights) and a training run that diverged.

The CLIs print a :class:`UfsnError` as one line (``Error: <message>``); any other exception is a bug of ours or of
a library and keeps its traceback. Each class also derives from the built-in that describes it, so callers that
catch ``ValueError`` or ``FileNotFoundError`` keep working.
"""

from __future__ import annotations


class UfsnError(Exception):
    """An error in what the user gave ufsn: reported on one line, naming the file or value and the problem."""


class ConfigError(UfsnError, ValueError):
    """A config file, section, key or option value that cannot be used; the message names them."""


class InputError(UfsnError, ValueError):
    """Input data that cannot be used: a malformed file, a missing frame, a dataset without what a step needs."""


class MissingInputError(UfsnError, FileNotFoundError):
    """A file or folder a command reads is not there (a dataset not prepared, a run not trained)."""


class OutputExistsError(UfsnError, FileExistsError):
    """A command would overwrite finished work (a run folder that exists)."""


class OutputError(UfsnError, OSError):
    """An output folder that cannot be made where the user pointed: a file in the way, no permission."""


class WeightsError(UfsnError, ValueError):
    """A checkpoint or weights file that does not fit the network it is loaded into."""


class MissingWeightsError(UfsnError, FileNotFoundError):
    """Pretrained weights asked for but not on disk (they cannot be downloaded here)."""


class UnavailableError(UfsnError, RuntimeError):
    """A requested backend is not on this machine: a decoder without FFmpeg, CUDA without a GPU, no compiler."""


class NonFiniteLoss(FloatingPointError):
    """Training stopped because the loss became NaN or infinite; the message says where (epoch, batch or step)."""
