"""Whether this machine can run TV-L1 on a device with an implementation, and what to do when it cannot.

cv2 and torch are imported inside the checks: importing this module stays cheap.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Literal, get_args

from ufsn.errors import ConfigError, UnavailableError

Device = Literal["cpu", "cuda"]
Impl = Literal["opencv", "torch"]  # cv2.optflow / cv2.cuda, or pipeline.steps.tvl1.pytorch on any torch device
DEVICES: tuple[str, ...] = get_args(Device)
IMPLS: tuple[str, ...] = get_args(Impl)


def check_device(device: str, impl: str = "opencv") -> None:
    """Raise :class:`UnavailableError` with what to do when ``device`` cannot run TV-L1 with this OpenCV (or torch)."""
    import cv2

    if device not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if impl not in IMPLS:
        raise ConfigError(f"impl must be one of {', '.join(IMPLS)}, got {impl!r}")
    if impl == "torch":
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            raise UnavailableError(
                f"--impl torch --device cuda: torch {torch.__version__} sees no CUDA device "
                f"(torch.cuda.is_available() is False; CUDA build: {torch.version.cuda or 'none'}). "
                "Install a CUDA build of torch on the GPU machine, or use --device cpu."
            )
        return
    if device == "cuda":
        cuda = getattr(cv2, "cuda", None)
        has_class = any(hasattr(cuda, n) for n in ("OpticalFlowDual_TVL1", "OpticalFlowDual_TVL1_create"))
        count = cv2.cuda.getCudaEnabledDeviceCount() if hasattr(cv2, "cuda") else 0
        if not has_class or count < 1:
            raise UnavailableError(
                f"--device cuda needs OpenCV built with CUDA and cudaoptflow; this OpenCV {cv2.__version__} "
                f"({Path(cv2.__file__).parent}) sees {count} CUDA device(s) and "
                f"{'has' if has_class else 'lacks'} cv2.cuda.OpticalFlowDual_TVL1. "
                "Build opencv-contrib with -DWITH_CUDA=ON, use --impl torch --device cuda (no OpenCV build "
                "needed), or use --device cpu."
            )


def check_compiler(device: str) -> None:
    """Raise :class:`UnavailableError` when ``torch.compile`` cannot build kernels for ``device`` here."""
    if device == "cuda":
        if importlib.util.find_spec("triton") is None:
            raise UnavailableError("--compile on cuda needs triton (pip install triton); or pass --no-compile")
    elif not any(shutil.which(c) for c in ("c++", "g++", "clang++", "cl")):
        raise UnavailableError(
            "--compile on cpu needs a C++ compiler (c++, g++ or clang++ on PATH); or pass --no-compile"
        )
