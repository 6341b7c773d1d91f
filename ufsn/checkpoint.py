"""Checkpoints as plain dicts, written atomically and loaded with ``weights_only=True``."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.api import atomic_write_bytes
from ufsn.errors import MissingWeightsError, WeightsError

if TYPE_CHECKING:
    import torch

# A run folder's checkpoint (stage 1, the streams, UF-TSN); bench.runs.CHECKPOINT is this name too.
CHECKPOINT = "checkpoint.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to ``path`` via temp file + rename.

    A run killed mid-write leaves the previous checkpoint intact and never a truncated one.
    """
    import torch  # here, so that the name above costs no torch import (bench.runs)

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint without unpickling arbitrary objects; names the file on failure."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated or foreign files raise many different types
        raise WeightsError(f"cannot load checkpoint {path}: {exc}") from exc
