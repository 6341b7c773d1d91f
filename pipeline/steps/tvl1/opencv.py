"""Dual TV-L1 through OpenCV contrib (``cv2.optflow`` on the CPU, ``cv2.cuda`` on a GPU): one pair, one video."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pipeline.steps.tvl1.devices import check_device
from pipeline.steps.tvl1.frames import read_grey
from pipeline.steps.tvl1.params import TVL1Params
from pipeline.steps.tvl1.video import FlowSettings

DEFAULT_PARAMS = TVL1Params()  # OpenCV's defaults


def _cpu_algorithm(params: TVL1Params):
    import cv2

    return cv2.optflow.DualTVL1OpticalFlow_create(
        tau=params.tau,
        lambda_=params.lambda_,
        theta=params.theta,
        nscales=params.nscales,
        warps=params.warps,
        epsilon=params.epsilon,
        innnerIterations=params.inner_iterations,  # sic: OpenCV's keyword has three n's
        outerIterations=params.outer_iterations,
        scaleStep=params.scale_step,
        gamma=params.gamma,
        medianFiltering=params.median_filtering,
    )


def compute_tvl1(
    gray0: np.ndarray, gray1: np.ndarray, params: TVL1Params = DEFAULT_PARAMS, device: str = "cpu"
) -> np.ndarray:
    """Dual TV-L1 flow from ``gray0`` to ``gray1``.

    Args:
        gray0, gray1: (H, W) uint8 grey images of the same size.
        params: TV-L1 parameters.
        device: "cpu" (cv2.optflow) or "cuda" (cv2.cuda; needs an OpenCV build with CUDA).
    Returns:
        (H, W, 2) float32 flow in pixels; channel 0 = x (rightwards), 1 = y (downwards).
    """
    import cv2

    if gray0.shape != gray1.shape or gray0.ndim != 2:
        raise ValueError(f"need two (H, W) grey images of one size, got {gray0.shape} and {gray1.shape}")
    if device == "cpu":
        return _cpu_algorithm(params).calc(gray0, gray1, None)
    check_device(device)
    iterations = params.cuda_iterations or params.inner_iterations * params.outer_iterations
    create = getattr(cv2.cuda, "OpticalFlowDual_TVL1_create", None) or cv2.cuda.OpticalFlowDual_TVL1.create
    algo = create(
        params.tau, params.lambda_, params.theta, params.nscales, params.warps,
        params.epsilon, iterations, params.scale_step, params.gamma, False,
    )  # fmt: skip
    flow = algo.calc(cv2.cuda_GpuMat(gray0), cv2.cuda_GpuMat(gray1), None)
    return flow.download().astype(np.float32)  # (H, W, 2)


def video_flows(frames: list[Path], s: FlowSettings) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (pair index from 1, (H, W, 2) flow) for consecutive ``frames``, one pair at a time."""
    previous = read_grey(frames[0])
    for index, path in enumerate(frames[1:], start=1):
        current = read_grey(path)
        yield index, compute_tvl1(previous, current, s.params, s.device)  # (H, W, 2)
        previous = current
