"""Where the flow estimator's time goes: per-part wall time (forward hooks), and the cost volume against its
reference loop and each of its two kernels."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import NamedTuple

import torch

from ufsn.flow.corr import (
    PATCH_FORM_MAX_PIXELS,
    cost_volume,
    cost_volume_patches,
    cost_volume_reference,
    cost_volume_shifts,
)
from ufsn.flow.net import FlowNet


class PartTime(NamedTuple):
    part: str
    ms: float  # per forward pass
    share: float  # of the whole forward pass
    calls: int  # calls timed over all repeats (the rest: one per forward pass)


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
    calls: dict[str, int] = defaultdict(int)
    starts: dict[str, float] = {}
    handles = []

    def started(name):
        return lambda module, args: starts.__setitem__(name, time.perf_counter())

    def finished(name):
        def hook(module, args, out):
            totals[name] += time.perf_counter() - starts[name]
            calls[name] += 1

        return hook

    for name, module in _timed_modules(net):
        handles += [module.register_forward_pre_hook(started(name)), module.register_forward_hook(finished(name))]
    try:
        with torch.inference_mode():
            net(img1, img2)  # warm-up
            totals.clear()
            calls.clear()
            start = time.perf_counter()
            for _ in range(repeats):
                net(img1, img2)
            whole = time.perf_counter() - start
    finally:
        for h in handles:
            h.remove()
    parts = [
        PartTime(n, 1e3 * t / repeats, t / whole, calls[n]) for n, t in sorted(totals.items(), key=lambda kv: -kv[1])
    ]
    rest = whole - sum(totals.values())
    return [*parts, PartTime("rest (upsampling, cat, mean removal)", 1e3 * rest / repeats, rest / whole, repeats)]


class CorrTiming(NamedTuple):
    form: str
    forward_ms: float
    train_ms: float  # forward + backward
    extra_mb: float  # memory kept for backward beyond the inputs, MB


def benchmark_corr(batch: int, channels: int, height: int, width: int, repeats: int = 3) -> list[CorrTiming]:
    """The cost volume, each of its kernels and the reference loop on one feature size (R = 4)."""
    f1 = torch.randn(batch, channels, height, width, requires_grad=True)
    f2 = torch.randn(batch, channels, height, width, requires_grad=True)
    feat_mb = f1.numel() * 4 / 2**20
    padded_mb = feat_mb * (1 + (1 + 8 / height) * (1 + 8 / width))  # f1 and the padded f2
    patches_mb = feat_mb * 82  # f1 and the 81 shifted copies of f2
    small = height * width <= PATCH_FORM_MAX_PIXELS
    forms = {
        f"cost_volume (default: patches up to {PATCH_FORM_MAX_PIXELS} px, else shifts)": (
            cost_volume,
            patches_mb if small else padded_mb,
        ),
        "shifts, in-place backward": (cost_volume_shifts, padded_mb),
        "patches (unfold), autograd backward": (cost_volume_patches, patches_mb),
        "reference loop, autograd backward": (cost_volume_reference, padded_mb),
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
