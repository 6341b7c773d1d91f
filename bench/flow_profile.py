"""Where the flow estimator's time goes: per-part wall time (forward hooks) and the cost-volume forms."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import NamedTuple

import torch

from ufsn.flow.corr import cost_volume, cost_volume_loop, cost_volume_unfold
from ufsn.flow.net import FlowNet


class PartTime(NamedTuple):
    part: str
    ms: float  # per forward pass
    share: float  # of the whole forward pass


def _timed_modules(net: FlowNet) -> list[tuple[str, torch.nn.Module]]:
    """Each top-level part of the net under its attribute name.

    Containers (the per-level decoders, the feature projections) are never called themselves, so their members
    are timed and summed under the container's name.
    """
    out = []
    for name, child in net.named_children():
        if isinstance(child, (torch.nn.ModuleList, torch.nn.ModuleDict)):
            out.extend((name, member) for member in child.children())
        else:
            out.append((name, child))
    return out


def profile_parts(net: FlowNet, img1: torch.Tensor, img2: torch.Tensor, repeats: int = 10) -> list[PartTime]:
    """Per-part forward time (encoder, projections, warp, cost volume, decoders, context, rest), batch of img1.

    Hooks time each top-level child; CPU execution is synchronous, so wall time is the part's time.
    """
    totals: dict[str, float] = defaultdict(float)
    starts: dict[str, float] = {}
    handles = []

    def started(name):
        return lambda module, args: starts.__setitem__(name, time.perf_counter())

    def finished(name):
        return lambda module, args, out: totals.__setitem__(name, totals[name] + time.perf_counter() - starts[name])

    for name, module in _timed_modules(net):
        handles += [module.register_forward_pre_hook(started(name)), module.register_forward_hook(finished(name))]
    try:
        with torch.inference_mode():
            net(img1, img2)  # warm-up
            totals.clear()
            start = time.perf_counter()
            for _ in range(repeats):
                net(img1, img2)
            whole = time.perf_counter() - start
    finally:
        for h in handles:
            h.remove()
    parts = [PartTime(n, 1e3 * t / repeats, t / whole) for n, t in sorted(totals.items(), key=lambda kv: -kv[1])]
    rest = whole - sum(totals.values())
    return [*parts, PartTime("rest (upsampling, cat, mean removal)", 1e3 * rest / repeats, rest / whole)]


class CorrTiming(NamedTuple):
    form: str
    forward_ms: float
    train_ms: float  # forward + backward
    extra_mb: float  # memory kept for backward beyond the inputs, MB


def benchmark_corr(batch: int, channels: int, height: int, width: int, repeats: int = 3) -> list[CorrTiming]:
    """The three cost-volume forms on one feature size (R = 4)."""
    f1 = torch.randn(batch, channels, height, width, requires_grad=True)
    f2 = torch.randn(batch, channels, height, width, requires_grad=True)
    feat_mb = f1.numel() * 4 / 2**20
    padded_mb = feat_mb * (1 + (1 + 8 / height) * (1 + 8 / width))
    forms = {
        "auto (default: patch up to 64 px, else loop)": (cost_volume, padded_mb),
        "loop + in-place backward": (lambda a, b: cost_volume(a, b, 4, "loop"), padded_mb),
        "patch, recomputed in backward": (lambda a, b: cost_volume(a, b, 4, "patch"), feat_mb),
        "loop, autograd backward": (cost_volume_loop, feat_mb * (1 + (1 + 8 / height) * (1 + 8 / width))),
        "unfold (vectorised)": (cost_volume_unfold, feat_mb * 82),
    }
    out = []
    for name, (fn, mem) in forms.items():
        with torch.no_grad():
            fn(f1, f2)
            t = time.perf_counter()
            for _ in range(repeats):
                fn(f1, f2)
            fwd = (time.perf_counter() - t) / repeats
        t = time.perf_counter()
        for _ in range(repeats):
            fn(f1, f2).sum().backward()
        train = (time.perf_counter() - t) / repeats
        out.append(CorrTiming(name, 1e3 * fwd, 1e3 * train, mem))
    return out
