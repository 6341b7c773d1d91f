"""Every ufsn-bench command that trains, under ``torchrun --nproc-per-node 2`` (gloo on CPU), through the command.

One job trains every method on a fresh tiny root and tabulates them; every rank's parameters are
compared after every training stage; rank 0 alone writes; failures end every rank; stage 1 on two
ranks at batch b/2 follows one process at batch b.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from bench.cli import main
from bench.runs import load_record

TESTS = Path(__file__).resolve().parents[1]
COMMANDS = TESTS / "scripts" / "torchrun_commands.py"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
METHODS = ("rgb", "tvl1", "gtflow", "supflow", "ufsn", "ufsn-nms", "ufsn-nocv-nms")
RUNS = {f"{m}-split1" for m in METHODS} | {f"flow-{v}-split1" for v in ("full", "nms", "nocv-nms", "oracle")}


def _ufsn_bench() -> str:
    return str(Path(sys.executable).with_name("ufsn-bench"))


def _fresh_root(tiny_prepared: Path, root: Path) -> Path:
    shutil.copytree(tiny_prepared / "synthetic", root / "synthetic", ignore=shutil.ignore_patterns("runs"))
    return root


@pytest.fixture(scope="module")
def trained(tiny_prepared, tmp_path_factory):
    """A fresh root after `train` of every method, `compare --no-train` and `ablations --no-train` on 2 ranks."""
    base = tmp_path_factory.mktemp("torchrun")
    root = _fresh_root(tiny_prepared, base / "root")
    common = ["--root", str(root), "--dataset", "synthetic", "--config", "tiny", "--no-progress"]
    commands = [["train", *common, "--method", m] for m in METHODS]
    commands += [[table, *common, "--splits", "1", "--no-train", "--results", str(base / "results")]
                 for table in ("compare", "ablations")]  # fmt: skip
    args = [arg for command in commands for arg in (":::", *command)][1:]
    job = subprocess.run([*TORCHRUN, str(COMMANDS), str(base / "stages.jsonl"), *args], env=ENV,
                         capture_output=True, text=True, timeout=1500)  # fmt: skip
    return root, base, job


def test_every_method_trains_once_under_torchrun_and_rank0_alone_writes(trained):
    root, base, job = trained
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-5000:]
    runs = root / "synthetic" / "runs"
    assert {p.name for p in runs.iterdir()} == RUNS  # one folder per run: nothing made twice or left half-made
    for name in RUNS:
        record = load_record(runs / name)
        assert record.world_size == 2, name
        per_process = {"stage1": 2, "spatial": 8, "temporal": 8, "stage2": 8, "stage3": 8}  # tiny.toml, flow_tiny.toml
        assert record.global_batch and all(b == 2 * per_process[s] for s, b in record.global_batch.items()), name
    assert set(load_record(runs / "ufsn-split1").global_batch) == {"stage2", "stage3"}
    assert set(load_record(runs / "supflow-split1").global_batch) == {"stage2"}  # a frozen estimator: no stage 3
    with (runs / "flow-full-split1" / "train_log.csv").open() as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == list(range(1, 7))  # stage 1 ran once: 6 steps, once
    stages = [json.loads(line) for line in (base / "stages.jsonl").read_text().splitlines()]
    assert sum(s["stage"] == "flow-full-split1:stage1" for s in stages) == 1  # ufsn-nms did not retrain it
    assert sum(s["stage"] == "rgb-split1:stream" for s in stages) == 1  # the shared spatial run: made once
    for table in ("comparison", "ablations"):
        assert (base / "results" / "synthetic" / f"{table}.csv").is_file()
    printed = job.stdout.count("ufsn-split1: top1")  # rank 0 prints the record, rank 1 stays quiet
    assert printed == 1, job.stdout


def test_every_rank_holds_the_same_parameters_after_every_stage(trained):
    _, base, job = trained
    assert job.returncode == 0, job.stderr[-3000:]
    stages = [json.loads(line) for line in (base / "stages.jsonl").read_text().splitlines()]
    kinds = {s["stage"].split(":")[1] for s in stages}
    assert kinds == {"stage1", "stage2", "stage3", "stream"}
    for s in stages:
        assert len(s["hashes"]) == 2 and s["hashes"][0] == s["hashes"][1], s  # bit-identical across ranks
    ufsn = {s["stage"]: s["sums"] for s in stages if s["stage"].startswith(("flow-full", "ufsn-split1"))}
    print(json.dumps(ufsn, indent=1))  # the closing note quotes these (pytest -s)


def test_torchrun_all_through_the_console_script_writes_the_three_tables(trained):
    root, base, job = trained
    assert job.returncode == 0, job.stderr[-3000:]
    results = base / "results_all"
    cmd = [
        *TORCHRUN,
        _ufsn_bench(),
        "all",
        "--root",
        str(root),
        "--dataset",
        "synthetic",
        "--config",
        "tiny",
        "--splits",
        "1",
        "--no-train",
        "--results",
        str(results),
        "--no-progress",
        "--efficiency-seconds",
        "0.05",
    ]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    for table in ("comparison", "ablations", "efficiency"):
        assert (results / "synthetic" / f"{table}.csv").is_file(), table
    assert done.stdout.count("== efficiency") == 1  # one process prints


def test_an_error_ends_every_rank_with_its_one_line_message(trained):
    root, _, job = trained
    assert job.returncode == 0, job.stderr[-3000:]
    cmd = [*TORCHRUN, _ufsn_bench(), "train", "--root", str(root), "--dataset", "synthetic", "--config", "tiny",
           "--method", "rgb", "--no-progress"]  # fmt: skip
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    # rank 0 found the run; rank 1 gets the same error from it instead of waiting at a barrier
    assert output.count("Error: run ") == 2 and "use --resume to continue it or --force" in output, output[-3000:]


def test_a_failure_on_one_rank_only_ends_the_job(tiny_prepared, tmp_path):
    root = _fresh_root(tiny_prepared, tmp_path / "root")
    script = tmp_path / "fail_rank1.py"
    script.write_text(
        "import os, sys\n"
        "import ufsn.tsn.data\n"
        "original = ufsn.tsn.data.ClipDataset.__getitem__\n"
        "def broken(self, index):\n"
        "    if os.environ['RANK'] == '1':\n"
        "        raise OSError('disk gone on rank 1')\n"
        "    return original(self, index)\n"
        "ufsn.tsn.data.ClipDataset.__getitem__ = broken\n"
        "from bench.cli import main\n"
        "main(sys.argv[1:], prog_name='ufsn-bench')\n"
    )
    cmd = [*TORCHRUN, str(script), "train", "--root", str(root), "--dataset", "synthetic", "--config", "tiny",
           "--method", "rgb", "--no-progress"]  # fmt: skip
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)  # a hang fails here
    assert done.returncode != 0 and "disk gone on rank 1" in done.stdout + done.stderr
    assert not (root / "synthetic" / "runs" / "rgb-split1").exists()  # the failed start left no run folder


def test_stage1_on_two_ranks_at_half_batch_follows_one_process(tiny_prepared, tmp_path):
    root = _fresh_root(tiny_prepared, tmp_path / "root")
    common = ["train-flow", "--root", str(root), "--dataset", "synthetic", "--config", "flow_tiny", "--no-progress"]
    one = CliRunner().invoke(main, [*common, "--name", "one", "--set", "batch_size=4"])
    assert one.exit_code == 0, one.output
    two = subprocess.run([*TORCHRUN, _ufsn_bench(), *common, "--name", "two", "--set", "batch_size=2"], env=ENV,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-4000:]
    runs = root / "synthetic" / "runs"
    logs = {}
    for name in ("one", "two"):
        with (runs / name / "train_log.csv").open() as f:
            logs[name] = [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f)]
    assert [s for s, _ in logs["one"]] == [s for s, _ in logs["two"]] == list(range(1, 7))
    for (_, a), (_, b) in zip(logs["one"], logs["two"], strict=True):
        assert b == pytest.approx(a, rel=1e-4)  # the same global batch, crops and jitter on either side
    a = torch.load(runs / "one" / "checkpoint.pt", weights_only=True)
    b = torch.load(runs / "two" / "checkpoint.pt", weights_only=True)
    assert (a["draws"], a["world_size"]) == (b["draws"], 1) == (24, 1) and b["world_size"] == 2
    worst = max((a["model"][k] - b["model"][k]).abs().max().item() for k in a["model"])
    assert worst < 1e-4, worst  # float summation order of the all-reduce
    print(f"stage 1, 1 process batch 4 vs 2 ranks batch 2: max |weight difference| {worst:.2e}")
