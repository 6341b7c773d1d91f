"""The parameters of Dual TV-L1, shared by the OpenCV and the PyTorch implementations."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TVL1Params:
    """Dual TV-L1 parameters (Zach, Pock & Bischof 2007).

    Defaults are OpenCV's ``cv::optflow::DualTVL1OpticalFlow::create`` defaults, the community
    standard for action recognition (TSN / denseflow use them with bound 20). The CUDA class
    ``cv::cuda::OpticalFlowDual_TVL1`` has the same defaults except that it has one iteration
    count (300 = 30 inner x 10 outer by default, see ``cuda_iterations``) and no median filtering.
    """

    tau: float = 0.25  # time step of the numerical scheme
    lambda_: float = 0.15  # data-term weight: smaller = smoother flow
    theta: float = 0.3  # coupling between the two sub-problems
    nscales: int = 5  # pyramid levels
    warps: int = 5  # warpings per level
    epsilon: float = 0.01  # stopping threshold
    inner_iterations: int = 30  # CPU only
    outer_iterations: int = 10  # CPU only
    scale_step: float = 0.8  # pyramid downscale factor
    gamma: float = 0.0  # illumination-variation term weight (0 = off)
    median_filtering: int = 5  # CPU only: median filter size applied to the flow
    cuda_iterations: int | None = None  # CUDA only; None = inner x outer (300, CUDA's default)
