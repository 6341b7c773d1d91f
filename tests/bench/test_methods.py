"""Every method: model shapes/backward/NaN, RAFT errors, DDP == single process, kill + resume, CLI runs."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bench.cli import main
from bench.experiment import load_experiment
from bench.method_models import METHODS, embedded_stream, spatial_stream, temporal_classifier
from bench.runs import load_record
from bench.stage1 import load_flow_config
from ufsn.flow.net import FlowNet, FlowNetConfig
from ufsn.flow.variants import VARIANTS

TESTS = Path(__file__).resolve().parents[1]
DDP_CHECK = TESTS / "scripts" / "ddp_train_check.py"
FLOW_TINY = TESTS.parent / "bench" / "configs" / "flow_tiny.toml"
RECORD_KEYS = ["name", "method", "dataset", "split", "metrics", "flow_metrics", "params", "config", "weights",
               "device", "seconds", "git_commit", "created", "stream_metrics", "notes", "world_size",
               "global_batch"]  # fmt: skip


def _model(method: str, exp):
    spec = METHODS[method]
    if spec.modality == "rgb":
        return spatial_stream(exp, 4), torch.rand(2, 3, 3, 48, 48)  # (B, K, 3, H, W)
    if spec.modality == "flow":
        return temporal_classifier(exp, 4), torch.rand(2, 3, 6, 48, 48) * 2 - 1  # (B, K, 2L, H, W)
    if spec.flow_source == "supervised":
        from torchvision.models.optical_flow import raft_small

        from ufsn.flow.supervised import RaftEstimator

        estimator = RaftEstimator(raft_small(weights=None), updates=2)
        return embedded_stream(exp, 4, estimator), torch.rand(1, 1, 4, 3, 128, 128)  # RAFT needs >= 128 px
    switches = VARIANTS[METHODS[method].flow_variant].net  # the stage-1 variant the method embeds
    net = FlowNet(FlowNetConfig(channels=(8, 12, 16, 24), decoder_widths=(16, 8), context=False, **switches))
    return embedded_stream(exp, 4, net), torch.rand(2, 3, 4, 3, 48, 48)  # (B, K, L+1, 3, H, W)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_forward_backward_finite(method):
    torch.manual_seed(0)
    model, x = _model(method, load_experiment("tiny"))
    scores = model(x)
    assert scores.shape == (x.shape[0], 4) and torch.isfinite(scores).all()
    torch.nn.functional.cross_entropy(scores, torch.zeros(x.shape[0], dtype=torch.long)).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_raft_without_weights_says_how_to_get_them(tmp_path, monkeypatch):
    from ufsn.flow.supervised import load_raft_small

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="--flow-weights"):
        load_raft_small("")


def test_ddp_two_processes_match_one(tiny_prepared, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, str(DDP_CHECK), str(tiny_prepared),
                             str(tmp_path / "single.pt"), "4"], env=env, capture_output=True, text=True)  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29517"]
    ddp = subprocess.run([*torchrun, str(DDP_CHECK), str(tiny_prepared), str(tmp_path / "ddp.pt"),
                          "4"], env=env, capture_output=True, text=True)  # fmt: skip
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a, b = torch.load(tmp_path / "single.pt", weights_only=True), torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert (tmp_path / "single.ckpt").exists() and (tmp_path / "ddp.ckpt").exists()
    moved = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    assert moved < 1e-4  # tolerance: float summation order of the gradient all-reduce
    torch.manual_seed(0)
    init = temporal_classifier(load_experiment("tiny"), 4).state_dict()
    assert any((a[k].float() - init[k].float()).abs().max() > 1e-3 for k in a if k.endswith("weight"))


def _train_cmd(root, *extra):
    return [sys.executable, "-m", "bench.cli", "train", "--root", str(root), "--dataset", "synthetic",
            "--config", "tiny", "--no-progress", *extra]  # fmt: skip


def test_kill_and_resume_continues_at_saved_epoch(tiny_prepared, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(tiny_prepared / "synthetic", root / "synthetic", ignore=shutil.ignore_patterns("runs"))
    cmd = _train_cmd(root, "--method", "rgb", "--set", "spatial.optim.epochs=3")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    log = root / "synthetic" / "runs" / "rgb-split1" / "train_log.csv"
    deadline = time.time() + 300
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 2):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(log.read_text().splitlines()) - 1
    assert 1 <= done < 3
    again = subprocess.run(_train_cmd(root, "--method", "rgb", "--set", "spatial.optim.epochs=3"),
                           capture_output=True, text=True)  # fmt: skip
    assert again.returncode == 1 and "--resume" in again.stdout + again.stderr  # never overwritten silently
    resumed = subprocess.run([*_train_cmd(root, "--method", "rgb", "--set", "spatial.optim.epochs=3"), "--resume"],
                             capture_output=True, text=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    epochs = [int(line.split(",")[0]) for line in log.read_text().splitlines()[1:]]
    assert epochs == list(range(3))  # the killed epochs are not redone, none is missing
    assert torch.load(log.parent / "checkpoint.pt", weights_only=True)["epoch"] == 3


def test_train_and_evaluate_cli_ufsn(tiny_prepared, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(tiny_prepared / "synthetic", root / "synthetic", ignore=shutil.ignore_patterns("runs"))
    runner = CliRunner()
    flow_config = tmp_path / "flow_tiny_q1.toml"  # flow_tiny with a [loss] of its own: stage 3 must go on with it
    flow_config.write_text(FLOW_TINY.read_text() + "\n[loss]\nrobust_q = 1.0\nw_smooth = 2.0\n")
    args = ["train", "--root", str(root), "--dataset", "synthetic", "--config", "tiny", "--no-progress",
            "--set", f"ufsn.flow_config={flow_config}"]  # fmt: skip
    result = runner.invoke(main, [*args, "--method", "ufsn"])
    assert result.exit_code == 0, result.output
    runs = root / "synthetic" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["flow-full-split1", "rgb-split1", "ufsn-split1"]
    record = load_record(runs / "ufsn-split1")
    assert list(record.__dict__) == RECORD_KEYS
    assert record.flow_metrics["flow_run"] == "flow-full-split1"
    assert record.weights == "random" and record.config["flow_net"]["cost_volume"] is True
    stage3_loss = record.config["stage3_loss"]  # the stage-1 run's [loss], not LossConfig()'s defaults
    assert (stage3_loss["robust_q"], stage3_loss["w_smooth"]) == (1.0, 2.0)
    expected = json.loads(json.dumps(dataclasses.asdict(load_flow_config(flow_config).end_loss())))  # tuples -> lists
    assert stage3_loss == expected
    with np.load(runs / "ufsn-split1" / "scores.npz") as scores:
        assert scores["fused"].shape == (28, 4) and scores["spatial"].shape == (28, 4)  # 7 test groups x 4 classes
        assert len(set(scores["video_ids"])) == 28
        top1 = float(np.mean(scores["fused"].argmax(1) == scores["labels"]))  # recomputed from the saved scores
    assert record.metrics["top1"] == pytest.approx(top1)
    header, row = (runs / "ufsn-split1" / "train_log_stage3.csv").read_text().splitlines()[:2]
    assert float(dict(zip(header.split(","), row.split(","), strict=True))["estimator_grad_norm"]) > 0
    evaluated = runner.invoke(main, ["evaluate", "--root", str(root), "--dataset", "synthetic", "--run", "ufsn-split1",
                                     "--no-progress"])  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    assert load_record(runs / "ufsn-split1").metrics == pytest.approx(record.metrics)  # deterministic protocol
    again = runner.invoke(main, [*args, "--method", "ufsn"])
    assert again.exit_code == 1 and "--resume" in again.output
