"""The efficiency table: params, GMACs, GFLOPs and flow frames/s of every flow source in one harness.

All methods run in this process, on one device, with the same thread count, at one input size;
FPS counts frame pairs (flow fields) per second. GFLOPs = 2 x GMACs. TV-L1 and DIS are
iterative CPU algorithms without a fixed MAC count ("-").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from bench.perf.timing import measure
from ufsn.flow.net import quiet_ptflops
from ufsn.flow.variants import VARIANTS

RAFT_MIN_SIZE = 128  # RAFT's correlation pyramid needs feature maps >= 16 at stride 8

UF_VARIANTS = {  # table label -> stage-1 variant (its FlowNetConfig switches: ufsn.flow.variants.VARIANTS)
    "UF-TSN motion stream (flow estimator)": "full",
    "UF-TSN w/o multi-scale": "nms",
    "UF-TSN w/o cost-volume & multi-scale": "nocv-nms",
}


@dataclass(frozen=True)
class EfficiencyConfig:
    """Options of ``ufsn-bench efficiency``."""

    width: int = 224  # input size (the dataset's crop: 224x224 for ucf101/hmdb51)
    height: int = 224
    threads: int = 2  # torch and OpenCV threads, the same for every method
    batches: tuple[int, ...] = (1, 2, 4, 8, 16)  # net batch sizes tried for "best batch"
    min_seconds: float = 1.0  # timing budget per measurement
    device: str = "auto"  # auto = cuda when available
    raft: bool = True  # include torchvision RAFT-small (random weights: speed does not depend on them)
    experiment: str = "ucf101"  # experiment config (bench/configs) whose stage-1 config sizes the estimators
    root: Path | None = None  # data root: a trained stage-1 run's checkpoint there takes precedence
    dataset: str = "ucf101"  # dataset folder of those runs
    split: int = 1  # split of those runs


class EstimatorSpec(NamedTuple):
    """One UF estimator of the table: its network and where that network was taken from."""

    label: str
    net: object  # FlowNetConfig
    net_from: str  # "checkpoint <path>", "config <file>" or "FlowNetConfig() defaults (...)"


def study_estimators(config: EfficiencyConfig) -> list[EstimatorSpec]:
    """Each stage-1 variant's network as the study trains it: the trained run's checkpoint when it exists,
    else the experiment's stage-1 config with the variant's switches, else FlowNetConfig() defaults."""
    from bench.experiment import load_experiment
    from bench.runs import CHECKPOINT, run_dir
    from bench.stage1 import flow_run_name, load_flow_config
    from ufsn.flow.net import FlowNetConfig
    from ufsn.flow.train import load_estimator

    try:
        flow_file = load_experiment(config.experiment).ufsn.flow_config
        flow_config = load_flow_config(flow_file)
    except FileNotFoundError:
        flow_file = flow_config = None
    specs = []
    for label, variant in UF_VARIANTS.items():
        ckpt = (
            None if config.root is None else run_dir(config.root, config.dataset, flow_run_name(variant, config.split))
        )
        if ckpt is not None and (ckpt / CHECKPOINT).is_file():
            net, source = load_estimator(ckpt / CHECKPOINT).config, f"checkpoint {ckpt / CHECKPOINT}"
        elif flow_config is not None:
            net, source = replace(flow_config, variant=variant).resolved_net(), f"config {flow_file}"
        else:
            net = replace(FlowNetConfig(), **VARIANTS[variant].net)
            source = f"FlowNetConfig() defaults (no bench/configs/{config.experiment}.toml)"
        specs.append(EstimatorSpec(label, net, source))
    return specs


def sample_pairs(width: int, height: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first frame pair (H, W, 3) uint8 of one clip per class of the demo preset, at the requested size.

    TV-L1 and DIS iterate until the flow settles, so their speed depends on what the frames show: at 64x64 on
    one thread a TV-L1 pair took 47 to 475 ms across the 12 classes. Their rate is taken over all 12 pairs.
    """
    from pipeline.synth.dataset import class_table, preset, render_clip

    cfg = preset("demo", width=width, height=height, frames=2)
    clips = (render_clip(cfg, cls, 1, 1).frames for cls in class_table(cfg.families, cfg.motions))
    return [(frames[0], frames[1]) for frames in clips]


def _opencv_rows(pairs: list[tuple[np.ndarray, np.ndarray]], config: EfficiencyConfig) -> list[dict]:
    import cv2

    from pipeline.steps.tvl1.opencv import compute_tvl1
    from pipeline.steps.tvl1.params import TVL1Params

    cv2.setNumThreads(config.threads)
    grays = [tuple(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in pair) for pair in pairs]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    methods: dict[str, Callable[[], object]] = {  # one call: every pair once
        "TV-L1 (OpenCV, CPU)": lambda: [compute_tvl1(g0, g1, TVL1Params()) for g0, g1 in grays],
        "DIS (OpenCV, medium)": lambda: [dis.calc(g0, g1, None) for g0, g1 in grays],
    }
    rows = []
    for name, call in methods.items():
        speed = measure(call, len(grays), min_seconds=config.min_seconds, min_calls=1)
        rows.append({"method": name, "params_m": np.nan, "gmacs": np.nan, "fps_b1": speed.items_per_second,
                     "fps_best": speed.items_per_second, "best_batch": 1, "device": "cpu"})  # fmt: skip
    return rows


def _net_speed(net, make_inputs, config: EfficiencyConfig, device) -> tuple[float, float, int]:
    import torch

    results = {}
    for batch in config.batches:
        args = make_inputs(batch)
        with torch.inference_mode():
            results[batch] = measure(lambda a=args: net(*a), batch, min_seconds=config.min_seconds).items_per_second
        if device.type == "cuda":
            torch.cuda.synchronize()
    best = max(results, key=results.get)
    return results[config.batches[0]], results[best], best


def _uf_rows(config: EfficiencyConfig, device) -> list[dict]:
    import torch

    from ufsn.flow.net import FlowNet, count_macs, count_parameters

    rows = []
    for label, net_config, net_from in study_estimators(config):
        net = FlowNet(net_config).to(device).eval()
        macs = count_macs(net, config.height, config.width)

        def inputs(batch, net=net):
            img = torch.rand(batch, 3, config.height, config.width, device=device)
            return img, img.roll(2, dims=-1)

        b1, best, best_batch = _net_speed(net, inputs, config, device)
        rows.append({"method": label, "params_m": count_parameters(net) / 1e6, "gmacs": macs / 1e9,
                     "fps_b1": b1, "fps_best": best, "best_batch": best_batch, "device": device.type,
                     "net_from": net_from})  # fmt: skip
    return rows


def _raft_row(config: EfficiencyConfig, device) -> dict:
    import torch
    from ptflops import get_model_complexity_info
    from torchvision.models.optical_flow import raft_small

    net = raft_small(weights=None).to(device).eval()

    def inputs(batch):
        img = torch.rand(batch, 3, config.height, config.width, device=device) * 2 - 1
        return img, img.roll(2, dims=-1)

    def constructor(_res):
        a, b = inputs(1)
        return {"image1": a, "image2": b}

    # The aten backend counts every matmul, including RAFT's all-pairs correlation.
    macs, _ = quiet_ptflops(lambda: get_model_complexity_info(
        net, (3, config.height, config.width), input_constructor=constructor, as_strings=False,
        print_per_layer_stat=False, backend="aten"))  # fmt: skip
    b1, best, best_batch = _net_speed(net, inputs, config, device)
    params = sum(p.numel() for p in net.parameters()) / 1e6
    return {"method": "RAFT-small (torchvision)", "params_m": params, "gmacs": macs / 1e9, "fps_b1": b1,
            "fps_best": best, "best_batch": best_batch, "device": device.type,
            "net_from": "torchvision raft_small(weights=None)"}  # fmt: skip


def efficiency_table(config: EfficiencyConfig, literature: pd.DataFrame | None = None) -> pd.DataFrame:
    """Measure every method now and return the table (speed-up relative to TV-L1 at batch 1)."""
    import torch

    from ufsn.distributed import pick_device

    torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    rows = _opencv_rows(sample_pairs(config.width, config.height), config)
    if config.raft and min(config.width, config.height) >= RAFT_MIN_SIZE:
        rows.append(_raft_row(config, device))
    elif config.raft:
        rows.append({"method": "RAFT-small (torchvision)", "device": device.type,
                     "note": f"not run: RAFT needs inputs of at least {RAFT_MIN_SIZE}x{RAFT_MIN_SIZE}"})  # fmt: skip
    rows += _uf_rows(config, device)
    table = pd.DataFrame(rows)
    table["gflops"] = 2 * table["gmacs"]
    table["speedup_vs_tvl1"] = table["fps_b1"] / table.loc[0, "fps_b1"]
    table["status"] = "measured"
    if "note" in table:
        table.loc[table["note"].notna(), "status"] = table["note"]
    table["resolution"] = f"{config.width}x{config.height}"
    table["threads"] = config.threads
    table["source"] = "ufsn-bench efficiency (this run)"
    if literature is not None:
        lit = literature[literature["table"] == "efficiency"]
        for method, block in lit.groupby("method", sort=False):
            values = dict(zip(block["metric"], block["value"], strict=True))
            table.loc[len(table)] = {"method": method, "params_m": values.get("params_m", np.nan),
                                     "fps_b1": values.get("fps", np.nan), "status": "reported",
                                     "source": block["citation"].iloc[0]}  # fmt: skip
    columns = ["method", "status", "params_m", "gmacs", "gflops", "fps_b1", "fps_best", "best_batch",
               "speedup_vs_tvl1", "device", "threads", "resolution", "source", "net_from"]  # fmt: skip
    table = table[columns].astype({"best_batch": "Int64", "threads": "Int64"})
    return table
