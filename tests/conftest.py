"""Shared fixtures: a tiny synthetic dataset rendered once per session, and ../shared paths."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REALDATA = SHARED / "realdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The real clips, split files and flow pairs in ../shared/realdata (skip when absent)."""
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present")
    return REALDATA


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A data root holding the ``tiny`` synthetic preset (seed 0); treat it as read-only."""
    from pipeline.synth import preset, run_synth

    root = tmp_path_factory.mktemp("tiny")
    run_synth(preset("tiny", root=root, workers=2), progress=False)
    return root
