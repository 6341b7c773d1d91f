"""Run ufsn-bench commands in one torchrun job and record every rank's parameters after every training stage.

Usage: torchrun --nproc-per-node 2 tests/scripts/torchrun_commands.py OUT.jsonl ARGS1 ::: ARGS2 ::: ...
Each ARGS is a ufsn-bench command line (``train --root R --dataset synthetic ...``), run through
``bench.cli.main`` exactly as the console script runs it, one after another in the same process group.
After every training stage (``train_stream``: spatial, temporal, stage 2, stage 3; ``train_flow``: stage 1)
the ranks all-gather a float64 sum and a SHA-256 of their parameters; rank 0 appends one JSON line per
stage to OUT.jsonl. Exit status: the first non-zero exit status of a command, else 0.
Kept in tests/scripts/ for the reason given in ddp_train_check.py.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

import ufsn.flow.train
import ufsn.tsn.stages
import ufsn.tsn.uf_tsn
from bench.cli import main


def _fingerprint(model: torch.nn.Module) -> tuple[float, str]:
    digest = hashlib.sha256()
    total = 0.0
    for name, p in sorted(model.state_dict().items()):
        if p.is_floating_point():
            total += p.double().sum().item()
        digest.update(name.encode() + p.detach().cpu().contiguous().numpy().tobytes())
    return total, digest.hexdigest()


def main_script() -> None:
    out = Path(sys.argv[1])
    commands, current = [], []
    for arg in sys.argv[2:]:
        if arg == ":::":
            commands.append(current)
            current = []
        else:
            current.append(arg)
    commands.append(current)
    state = {"command": "", "nets": []}

    def record(stage: str, model: torch.nn.Module) -> None:
        shares: list = [None] * dist.get_world_size()
        dist.all_gather_object(shares, _fingerprint(model))
        if dist.get_rank() == 0:
            line = {"command": state["command"], "stage": stage, "sums": [s for s, _ in shares],
                    "hashes": [h for _, h in shares]}  # fmt: skip
            with out.open("a") as f:
                f.write(json.dumps(line) + "\n")

    def stream(original):
        def train_stream(model, dataset, config, ctx, **kw):
            result = original(model, dataset, config, ctx, **kw)
            stage = Path(kw["log_csv"]).stem.removeprefix("train_log").strip("_") or "stream"
            record(f"{Path(kw['checkpoint']).parent.name}:{stage}", model)
            return result

        return train_stream

    original_wrap, original_flow = ufsn.flow.train.wrap, ufsn.flow.train.train_flow

    def wrap(net, ctx):
        state["nets"].append(net)  # train_flow's network, fingerprinted when train_flow returns
        return original_wrap(net, ctx)

    def train_flow(cfg, run_dir, **kw):
        result = original_flow(cfg, run_dir, **kw)
        record(f"{Path(run_dir).name}:stage1", state["nets"][-1])
        return result

    ufsn.tsn.stages.train_stream = stream(ufsn.tsn.stages.train_stream)
    ufsn.tsn.uf_tsn.train_stream = stream(ufsn.tsn.uf_tsn.train_stream)
    ufsn.flow.train.wrap, ufsn.flow.train.train_flow = wrap, train_flow
    status = 0
    for args in commands:
        state["command"] = " ".join(args[:3])
        try:
            main(args, prog_name="ufsn-bench")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
            status = status or code
    sys.exit(status)


if __name__ == "__main__":
    main_script()
