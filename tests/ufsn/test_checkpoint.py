"""Checkpoints: round trip, weights_only refusal of pickled objects, truncated files named."""

import pickle

import pytest
import torch

from ufsn.checkpoint import load_checkpoint, save_checkpoint


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_round_trip(tmp_path):
    state = {"model": {"w": torch.arange(4.0)}, "epoch": 3, "config": {"lr": 0.01, "name": "x"}}
    save_checkpoint(tmp_path / "c.pt", state)
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["w"], torch.arange(4.0))
    assert not [p for p in tmp_path.iterdir() if p.name != "c.pt"]  # no temporaries left


def test_refuses_arbitrary_pickles(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"x": _Evil()}, path, pickle_module=pickle)
    with pytest.raises(ValueError, match="evil.pt"):
        load_checkpoint(path)


def test_truncated_and_missing(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {"w": torch.ones(1000)})
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "c.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="c.pt"):
        load_checkpoint(tmp_path / "c.pt")
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")


def test_one_checkpoint_file_name():
    # One constant names a run's checkpoint (ufsn/ may not import bench/, so it lives here and bench.runs refers to it).
    import re
    from pathlib import Path

    from bench.runs import CHECKPOINT as RUN_CHECKPOINT
    from ufsn.checkpoint import CHECKPOINT

    assert RUN_CHECKPOINT is CHECKPOINT and CHECKPOINT == "checkpoint.pt"
    repo = Path(__file__).resolve().parents[2]
    literal = re.compile(r"""["']checkpoint\.pt["']""")
    sources = [p for folder in ("ufsn", "bench", "pipeline") for p in sorted((repo / folder).rglob("*.py"))]
    spelled = [str(p.relative_to(repo)) for p in sources if literal.search(p.read_text(encoding="utf-8"))]
    assert spelled == ["ufsn/checkpoint.py"]
