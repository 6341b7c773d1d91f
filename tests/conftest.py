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
    from pipeline.synth.dataset import preset, run_synth

    root = tmp_path_factory.mktemp("tiny")
    run_synth(preset("tiny", root=root, workers=2), progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_prepared(tiny_root, tmp_path_factory) -> Path:
    """A copy of ``tiny_root`` after ``ufsn-data all`` (frames, TV-L1, shards, splits); read-only.

    Tests that train copy it (or use their own run names) so they do not see each other's runs.
    """
    import shutil

    from pipeline.steps.all_steps import AllConfig, run_all

    root = tmp_path_factory.mktemp("tiny_prepared")
    shutil.copytree(tiny_root / "synthetic", root / "synthetic")
    report = run_all(AllConfig(root=root, dataset="synthetic", workers=2), progress=False)
    assert report.ok, report
    return root
