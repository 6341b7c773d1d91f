"""Click options shared by the ufsn-data commands (defined once, reused by every command)."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.frame_size import FrameSize
from pipeline.storage.paths import DATA_ENV, default_root


def root_option(func):
    return click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=default_root,
        show_default=f"${DATA_ENV} or ./data",
        help="Data root holding one folder per dataset.",
    )(func)


def dataset_option(func):
    return click.option(
        "--dataset",
        required=True,
        help="Dataset folder under the root: ucf101, hmdb51, synthetic, or any other name.",
    )(func)


def workers_option(default: int = 1):
    def decorate(func):
        return click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=default,
            show_default=True,
            help="Parallel worker processes (joblib); each uses one OpenCV/torch thread.",
        )(func)

    return decorate


def official_option(what_happens: str):
    """``--official``: the folder of a dataset's official split lists; ``what_happens`` ends the help."""

    def decorate(func):
        return click.option(
            "--official",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            help="Folder of the official split files (UCF-101: classInd.txt, trainlist0k.txt, testlist0k.txt; "
            f"HMDB-51: <class>_test_split<k>.txt). {what_happens}",
        )(func)

    return decorate


def force_option(func):
    return click.option("--force", is_flag=True, help="Redo items that are already done.")(func)


def parse_size(text: str | None) -> FrameSize | None:
    """``'340x256'`` -> ``FrameSize(width=340, height=256)``; None stays None. The one WxH parser of every command."""
    if text is None:
        return None
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WxH such as 340x256, got {text!r}") from None
    if width < 8 or height < 8:
        raise click.BadParameter(f"size must be at least 8x8, got {text!r}")
    return FrameSize(width, height)


def parse_bytes(text: str) -> int:
    """``'1GiB'``, ``'500M'``, ``'4096'`` -> bytes (binary units: K = 1024)."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = (cleaned[:-1], cleaned[-1]) if cleaned[-1:] in units and cleaned[-1:] else (cleaned, "")
    try:
        value = int(float(number) * units[unit])
    except ValueError:
        raise click.BadParameter(f"expected a size such as 1GiB, 500MiB or 4096, got {text!r}") from None
    if value < 1:
        raise click.BadParameter(f"size must be positive, got {text!r}")
    return value
