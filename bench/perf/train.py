"""Training throughput for planning runs: clips/s of each training step at the config's input, beside the
shard loader's clips/s, the full study's time on this hardware from those rates, and DDP scaling.

Every model step is the real one (``ufsn.tsn.train.train_one_epoch``: forward, loss, backward, gradient
clipping, optimiser step; AMP on CUDA) on random inputs of the config's shape, after one warm-up step.
Weights are random: speed does not depend on them.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from bench.method_models import METHODS

# Clips of the official split-1 training lists (trainlist01 / HMDB-51's "1" labels): train + val here.
FULL_TRAIN_CLIPS = {"ucf101": 9537, "hmdb51": 3570}
FULL_CLASSES = {"ucf101": 101, "hmdb51": 51}


@dataclass(frozen=True)
class PerfTrainConfig:
    """Options of ``ufsn-bench perf train``."""

    root: Path = Path("data")
    dataset: str = "ucf101"  # whose config and shards; the estimate is for this dataset's full split 1
    config: str | None = None  # experiment config [default: the dataset's]
    batch: int | None = None  # clips per step in every stage [default: each stage's config batch]
    steps: int = 2  # timed steps per stage, after one warm-up step
    device: str = "auto"
    ddp: int = 0  # >= 2: also time the temporal step in this many gloo processes on CPU
    loader: bool = True  # measure the shard loader beside each step (needs shards under root)
    progress: bool = True  # a progress bar over the stages (says which stage runs out of memory)
    train_clips: int | None = None  # clips per epoch of the estimate [default: the full split 1]


class StageRate(NamedTuple):
    """Measured speed of one training step."""

    stage: str  # spatial | temporal | stage3 | stage1
    label: str
    batch: int  # clips (stage1: pairs) per step
    model_rate: float  # clips/s (stage1: pairs/s)
    loader_rate: float | None  # clips/s of the shard loader for this stage's input (None: not measured)


class EstimateRow(NamedTuple):
    """One stage of one run of the full study."""

    run: str
    stage: str
    items: int  # clips (stage 1: pairs) the stage processes
    model_hours: float
    loader_hours: float | None
    hours: float  # the larger of the two: the bottleneck


def _random_batch(stage: str, batch: int, segments: int, pairs: int, size: int, classes: int, device) -> dict:
    import torch

    shape = {"spatial": (batch, segments, 3, size, size),  # (B, K, 3, H, W)
             "temporal": (batch, segments, 2 * pairs, size, size),  # (B, K, 2L, H, W)
             "stage3": (batch, segments, pairs + 1, 3, size, size)}[stage]  # (B, K, L+1, 3, H, W)  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    data = torch.rand(shape, generator=generator)
    return {"input": data.to(device), "label": torch.randint(0, classes, (batch,), generator=generator).to(device)}


def seconds_per_step(model, batch: dict, optim, device, steps: int, step_fn=None) -> float:
    """Mean wall time of ``steps`` real training steps on ``batch`` after one warm-up step."""
    import torch

    from ufsn.tsn.train import classification_step, make_optimizer, train_one_epoch

    model = model.to(device)
    optimizer = make_optimizer(model, optim)
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" else None
    kwargs = dict(device=device, clip_grad=optim.clip_grad, step=step_fn or classification_step, scaler=scaler,
                  progress=False)  # fmt: skip
    train_one_epoch(model, [batch], optimizer, epoch=0, **kwargs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    train_one_epoch(model, [batch] * steps, optimizer, epoch=1, **kwargs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def stage1_seconds_per_step(flow_cfg, device, steps: int) -> float:
    """Mean wall time of a stage-1 step (bidirectional unsupervised loss, Adam) at the flow config's crop."""
    import torch

    from ufsn.flow.net import FlowNet
    from ufsn.flow.train import compute_loss

    net = FlowNet(flow_cfg.resolved_net()).to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=flow_cfg.lr)
    h, w = flow_cfg.crop or (224, 224)
    generator = torch.Generator().manual_seed(0)
    img1 = torch.rand(flow_cfg.batch_size, 3, h, w, generator=generator).to(device)  # (B, 3, H, W)
    img2 = img1.roll(3, dims=-1)
    flow = torch.zeros(flow_cfg.batch_size, 2, h, w, device=device)  # (B, 2, H, W): no ground truth
    noc = torch.ones(flow_cfg.batch_size, 1, h, w, device=device)

    def step(i):
        loss, _ = compute_loss(net, flow_cfg, i, img1, img2, flow, noc)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), flow_cfg.grad_clip)
        optimizer.step()

    step(0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(steps):
        step(i + 1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def loader_clips_per_second(root: Path, dataset: str, modality: str, segments: int, size: int, batch: int,
                            workers: int) -> float | None:  # fmt: skip
    """Clips/s of the training DataLoader over the dataset's shards (warm), or None without shards."""
    from bench.perf.loader import LoaderBenchConfig, clips_per_second
    from pipeline.readers.shard import read_index
    from pipeline.storage.paths import DatasetPaths

    index = DatasetPaths(Path(root), dataset).shards / "index.csv"
    if not index.is_file():
        return None
    videos = [(row.video_id, row.label) for row in read_index(index)]
    config = LoaderBenchConfig(root=Path(root), dataset=dataset, workers=workers, segments=segments, size=size,
                               batch=batch)  # fmt: skip
    passes = max(1, math.ceil(4 * batch / len(videos)))
    clips_per_second(config, "shards", modality, videos, 1)  # warm the page cache
    return clips_per_second(config, "shards", modality, videos, passes)


def _split_rows(root: Path, dataset: str, exp):
    from bench.inputs import require_split

    return require_split(root, dataset, exp.split, exp.train_subsets)


def _split_classes(root: Path, dataset: str, exp) -> int:
    return max(r.label for r in _split_rows(root, dataset, exp)) + 1


def measure_stages(config: PerfTrainConfig) -> tuple[list[StageRate], dict]:
    """The four training steps' rates (and the loader's), with the facts the table states."""
    import torch

    from bench.experiment import load_experiment
    from bench.method_models import embedded_stream, spatial_stream, temporal_classifier
    from bench.stage1 import load_flow_config
    from ufsn.distributed import pick_device
    from ufsn.flow.net import FlowNet
    from ufsn.tsn.stages import end_to_end_step
    from ufsn.workers import capped_workers

    exp = load_experiment(config.config or config.dataset)
    exp = replace(exp, spatial=replace(exp.spatial, weights="random"), temporal=replace(exp.temporal, weights="random"))
    flow_cfg = load_flow_config(exp.ufsn.flow_config, root=str(config.root), dataset=config.dataset)
    device = pick_device(config.device)
    classes = FULL_CLASSES.get(config.dataset) or _split_classes(config.root, config.dataset, exp)
    k, pairs, size = exp.input.segments, exp.input.flow_pairs, exp.input.crop
    workers = capped_workers(exp.input.workers)
    stages = {
        "spatial": (f"spatial {exp.spatial.arch}, RGB", exp.spatial_optim, "rgb",
                    lambda: spatial_stream(exp, classes), None),
        "temporal": (f"temporal {exp.temporal.arch}, {pairs} stacked flow pairs", exp.temporal_optim, "flow",
                     lambda: temporal_classifier(exp, classes), None),
        "stage3": (f"UF-TSN stage 3: estimator + {exp.temporal.arch}, {pairs + 1} RGB frames", exp.ufsn.stage3,
                   "rgbpair", lambda: embedded_stream(exp, classes, FlowNet(flow_cfg.resolved_net())),
                   end_to_end_step(exp.ufsn.unsup_weight, flow_cfg.end_loss())),
    }  # fmt: skip
    from pipeline.api import progress_bar

    rates = []
    bar = progress_bar(stages.items(), desc="perf train", unit="stage", enabled=config.progress)
    for stage, (label, optim, modality, build, step_fn) in bar:
        bar.set_postfix_str(f"{stage}, batch {config.batch or optim.batch_size}")
        batch = config.batch or optim.batch_size
        torch.manual_seed(0)
        seconds = seconds_per_step(build(), _random_batch(stage, batch, k, pairs, size, classes, device), optim,
                                   device, config.steps, step_fn)  # fmt: skip
        loader = (loader_clips_per_second(config.root, config.dataset, modality, k, size, batch, workers)
                  if config.loader else None)  # fmt: skip
        rates.append(StageRate(stage, label, batch, batch / seconds, loader))
    flow_batch = config.batch or flow_cfg.batch_size
    seconds = stage1_seconds_per_step(replace(flow_cfg, batch_size=flow_batch), device, config.steps)
    h, w = flow_cfg.crop or (224, 224)
    rates.append(StageRate("stage1", f"UF stage 1: bidirectional unsupervised, {h}x{w} crops", flow_batch,
                           flow_batch / seconds, None))  # fmt: skip
    facts = {"device": str(device), "amp": device.type == "cuda", "threads": torch.get_num_threads(),
             "workers": workers, "segments": k, "size": size, "experiment": exp, "flow": flow_cfg}  # fmt: skip
    return rates, facts


def study_estimate(rates: list[StageRate], exp, flow_cfg, train_clips: int) -> list[EstimateRow]:
    """Hours of every training stage of the full study (rgb, tvl1, supflow, the three UF runs) at ``rates``.

    A stage takes epochs x clips / rate (stage 1: the config's steps x batch pairs / rate), or the loader's
    time for the same clips when that is longer; rates measured at another batch are used as they are.
    Stage 2 trains the temporal classifier, at the temporal rate.
    """
    by = {r.stage: r for r in rates}

    def row(run, stage, epochs_or_steps, per_epoch, rate: StageRate):
        items = epochs_or_steps * per_epoch
        model = items / rate.model_rate / 3600
        loader = items / rate.loader_rate / 3600 if rate.loader_rate else None
        return EstimateRow(run, stage, items, model, loader, max(model, loader or 0.0))

    stage3_clips = train_clips
    if exp.ufsn.stage3_max_iters > 0:
        stage3_clips = min(train_clips, exp.ufsn.stage3_max_iters * exp.ufsn.stage3.batch_size)
    rows = [row("rgb", "spatial", exp.spatial_optim.epochs, train_clips, by["spatial"]),
            row("tvl1", "temporal", exp.temporal_optim.epochs, train_clips, by["temporal"])]  # fmt: skip
    rows.append(row("supflow", "stage 2", exp.ufsn.stage2.epochs, train_clips, by["temporal"]))
    for run in (name for name, spec in METHODS.items() if spec.flow_source == "unsupervised"):
        rows.append(row(run, "stage 1", flow_cfg.steps, flow_cfg.batch_size, by["stage1"]))
        rows.append(row(run, "stage 2", exp.ufsn.stage2.epochs, train_clips, by["temporal"]))
        rows.append(row(run, "stage 3", exp.ufsn.stage3.epochs, stage3_clips, by["stage3"]))
    return rows


def _ddp_worker(rank: int, world: int, port: int, threads: int, batch: int, steps: int, config_name: str,
                out: str) -> None:  # fmt: skip
    import torch
    import torch.distributed as dist

    from bench.experiment import load_experiment
    from bench.method_models import temporal_classifier

    torch.set_num_threads(threads)
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
    exp = load_experiment(config_name)
    exp = replace(exp, temporal=replace(exp.temporal, weights="random"))
    torch.manual_seed(0)
    model = temporal_classifier(exp, 101)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    device = torch.device("cpu")
    data = _random_batch("temporal", batch, exp.input.segments, exp.input.flow_pairs, exp.input.crop, 101, device)
    seconds = seconds_per_step(model, data, exp.temporal_optim, device, steps)
    if rank == 0:
        Path(out).write_text(f"{seconds}\n")
    if world > 1:
        dist.destroy_process_group()


def ddp_efficiency(config_name: str, processes: int, batch: int, steps: int) -> tuple[float, float, int]:
    """(seconds per step in 1 process, in ``processes`` gloo processes, threads per process): the temporal
    step with the same per-process batch and threads; efficiency = the first / the second."""
    import socket

    import torch.multiprocessing as mp

    from ufsn.workers import usable_cpus

    threads = max(1, usable_cpus() // processes)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for world in (1, processes):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            out = str(Path(tmp) / f"world{world}.txt")
            mp.spawn(_ddp_worker, args=(world, port, threads, batch, steps, config_name, out), nprocs=world)
            results.append(float(Path(out).read_text()))
    return results[0], results[1], threads


def format_report(rates: list[StageRate], facts: dict, estimate: list[EstimateRow], train_clips: int,
                  dataset: str, ddp: tuple[int, float, float, int] | None = None) -> str:  # fmt: skip
    """The rates table, the full-study estimate and the DDP line as Markdown."""
    lines = [f"training throughput: {dataset} config, device {facts['device']}{' (AMP)' if facts['amp'] else ''}, "
             f"{facts['threads']} torch threads, K={facts['segments']}, {facts['size']}x{facts['size']} crops, "
             f"loader: shards, {facts['workers']} workers", "",
             "| step | batch | model clips/s | loader clips/s | bottleneck |", "|---|---:|---:|---:|---|"]  # fmt: skip
    for r in rates:
        loader = f"{r.loader_rate:.1f}" if r.loader_rate else "-"
        neck = "-" if not r.loader_rate else ("loader" if r.loader_rate < r.model_rate else "model")
        unit = " (pairs/s)" if r.stage == "stage1" else ""
        lines.append(f"| {r.label}{unit} | {r.batch} | {r.model_rate:.2f} | {loader} | {neck} |")
    lines += ["", f"full {dataset} split-1 study at these rates ({train_clips} training clips per epoch, one process):",
              "", "| run | stage | clips (stage 1: pairs) | model h | loader h | h |",
              "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for e in estimate:
        loader = "-" if e.loader_hours is None else f"{e.loader_hours:.1f}"
        lines.append(f"| {e.run} | {e.stage} | {e.items:,} | {e.model_hours:.1f} | {loader} | {e.hours:.1f} |")
    total = sum(e.hours for e in estimate)
    lines += ["", f"total: {total:.0f} h = {total / 24:.1f} days in one process (test-time evaluation and the flow "
              "caches of stage 2 not included)"]  # fmt: skip
    if ddp is not None:
        world, one, many, threads = ddp
        efficiency = one / many
        lines.append(
            f"DDP on CPU (gloo, {world} processes x {threads} thread, temporal step, same per-process "
            f"batch): {one:.2f} s/step alone, {many:.2f} s/step each in {world}; scaling efficiency "
            f"{efficiency:.2f}; with {world} processes the total is {total / (world * efficiency):.0f} h"
        )
    return "\n".join(lines)


def run_perf_train(config: PerfTrainConfig) -> str:
    """Measure, estimate and format (the library side of ``ufsn-bench perf train``)."""
    rates, facts = measure_stages(config)
    clips = config.train_clips or FULL_TRAIN_CLIPS.get(config.dataset)
    if clips is None:
        clips = len(_split_rows(config.root, config.dataset, facts["experiment"]))
    estimate = study_estimate(rates, facts["experiment"], facts["flow"], clips)
    ddp = None
    if config.ddp >= 2:
        batch = config.batch or facts["experiment"].temporal_optim.batch_size
        one, many, threads = ddp_efficiency(config.config or config.dataset, config.ddp, batch, config.steps)
        ddp = (config.ddp, one, many, threads)
    return format_report(rates, facts, estimate, clips, config.dataset, ddp)
