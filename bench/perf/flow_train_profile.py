"""Where a stage-1 training step's time goes: data and augmentation, forward, each loss term, backward, optimiser.

The step is the one ``ufsn.flow.train.train_flow`` runs (same pair stream, augmentation, ``compute_loss``,
clipping and Adam), on the dataset's training pairs, after warm-up steps. Pairs are read and augmented in
this process (no loader workers), so the data phase is the work itself rather than a wait on workers.
Phases are timed with the wall clock (CUDA synchronised); the forward time of each loss term comes
from ``torch.profiler`` labels placed in ``ufsn.flow.losses.level_terms`` (``loss.warp``,
``loss.photometric``, ``loss.census``, ``loss.smoothness``) and ``compute_loss`` (``loss.occlusion``),
from a second, profiled pass.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import NamedTuple

import torch

from ufsn.flow.corr import CostVolume

LOSS_LABELS = ("loss.warp", "loss.photometric", "loss.census", "loss.smoothness", "loss.occlusion")
# The convolution kernels of a training step (forward: oneDNN or the slow path; backward: both gradients).
CONV_OPS = ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::_slow_conv2d_forward",
            "aten::cudnn_convolution", "aten::slow_conv_dilated2d")  # fmt: skip


class TrainPart(NamedTuple):
    part: str
    ms: float  # per step
    share: float  # of the whole step
    calls: int  # times the part ran over the timed steps (a phase: once a step; a kernel or loss term: its calls)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _steps(cfg, batches, net, opt, device, first: int, count: int, timings: dict | None) -> None:
    """Run ``count`` training steps from step ``first``, appending each phase's seconds to ``timings[phase]``."""
    from ufsn.flow.train import compute_loss

    def mark(name, since):
        _sync(device)
        now = time.perf_counter()
        if timings is not None:
            timings[name].append(now - since)
        return now

    for step in range(first, first + count):
        t = time.perf_counter()
        img1, img2, flow, noc = (t.to(device) for t in next(batches))
        t = mark("data and augmentation", t)
        with torch.profiler.record_function("forward_pass"):
            loss, _ = compute_loss(net, cfg, step, img1, img2, flow, noc)
        t = mark("forward + loss", t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t = mark("backward", t)
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        mark("clip + optimiser step", t)


def _setup(cfg, data, device: torch.device, corr: type[CostVolume]):
    """A seeded FlowNet with a ``corr`` cost volume, its Adam and an endless iterator of training batches read
    in this process."""
    from dataclasses import replace

    from ufsn.distributed import DistContext
    from ufsn.flow.net import FlowNet
    from ufsn.flow.train import _pair_loader

    torch.manual_seed(cfg.seed)
    net_config = cfg.resolved_net()
    net = FlowNet(net_config, corr=corr(max_displacement=net_config.max_displacement)).to(device).train()
    batches = iter(_pair_loader(data, replace(cfg, workers=0), DistContext(0, 1, 0, device), 0, device))
    return net, torch.optim.Adam(net.parameters(), lr=cfg.lr), batches


def _timed_steps(cfg, data, device: torch.device, corr: type[CostVolume], steps: int, warmup: int):
    """The set-up net, optimiser and batches after ``warmup`` steps, and each phase's seconds over ``steps`` more."""
    net, opt, batches = _setup(cfg, data, device, corr)
    _steps(cfg, batches, net, opt, device, 0, warmup, None)
    timings: dict[str, list[float]] = defaultdict(list)
    _steps(cfg, batches, net, opt, device, warmup, steps, timings)
    return net, opt, batches, timings


def step_seconds(
    cfg, data, device: torch.device, corr: type[CostVolume] = CostVolume, steps: int = 10, warmup: int = 3
) -> float:
    """Wall time per training step with a ``corr`` cost volume (:class:`CostVolume`, the model's, or
    :class:`ReferenceCostVolume`, the plain loop); ``data`` is the stage-1 PairDataset
    (:func:`ufsn.flow.pairs.pair_dataset`)."""
    *_, timings = _timed_steps(cfg, data, device, corr, steps, warmup)
    return sum(sum(t) for t in timings.values()) / steps


def profile_train_step(cfg, data, device: torch.device, steps: int = 10, warmup: int = 3) -> list[TrainPart]:
    """Per-step time of each phase and, inside the forward, of the network and each loss term; the last
    part is the convolution kernels' time (forward and backward), which bounds what any other change can gain."""
    from torch.profiler import ProfilerActivity, profile

    net, opt, batches, timings = _timed_steps(cfg, data, device, CostVolume, steps, warmup)
    totals = {phase: sum(t) for phase, t in timings.items()}
    counts = {phase: len(t) for phase, t in timings.items()}
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        _steps(cfg, batches, net, opt, device, warmup + steps, steps, None)
    labelled = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages() if e.key in LOSS_LABELS}
    label_calls = {e.key: e.count for e in prof.key_averages() if e.key in LOSS_LABELS}
    whole = sum(totals.values())
    forward = totals.pop("forward + loss")
    forwards = counts.pop("forward + loss")
    # The profiled pass is slower (instrumentation); scale its label times to the unprofiled forward.
    loss_forward = sum(labelled.values())
    profiled_forward = next((e.cpu_time_total / 1e6 for e in prof.key_averages() if e.key == "forward_pass"), None)
    parts = [TrainPart(k, 1e3 * v / steps, v / whole, counts[k]) for k, v in totals.items()]
    scale = 1.0 if profiled_forward is None else forward / profiled_forward
    if loss_forward * scale > forward:  # a loaded machine can stretch the profiled pass: the terms fill the forward
        scale = forward / loss_forward
    terms = [
        TrainPart(f"  {k} (forward)", 1e3 * v * scale / steps, v * scale / whole, label_calls[k])
        for k, v in labelled.items()
    ]
    net_forward = forward - loss_forward * scale
    parts.insert(1, TrainPart("forward: network", 1e3 * net_forward / steps, net_forward / whole, forwards))
    parts.insert(2, TrainPart("forward: loss terms", 1e3 * (forward - net_forward) / steps,
                              (forward - net_forward) / whole, sum(label_calls.values())))  # fmt: skip
    ordered = parts[:3] + sorted(terms, key=lambda p: -p.ms) + parts[3:]
    # Kernel times hardly change under the profiler (its cost is per operator call), so the profiled pass's
    # convolution time is set against the unprofiled step.
    conv_events = [e for e in prof.key_averages() if e.key in CONV_OPS]
    conv = sum(e.self_cpu_time_total for e in conv_events) / 1e6  # s over the steps
    convs = TrainPart(
        "convolutions, forward + backward", 1e3 * conv / steps, conv / whole, sum(e.count for e in conv_events)
    )
    return [*ordered, TrainPart("whole step", 1e3 * whole / steps, 1.0, forwards), convs]
