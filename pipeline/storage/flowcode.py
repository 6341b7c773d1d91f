"""The TV-L1 JPEG code: flow in pixels <-> 0..255, defined once with its exact inverse.

The community convention (TSN, mmaction2 denseflow with ``--bound 20``): clip each flow
component to [-bound, bound] and map it linearly onto [0, 255]; 127.5 is zero motion.
"""

from __future__ import annotations

import numpy as np

from ufsn.errors import ConfigError

DEFAULT_BOUND = 20.0  # px; denseflow's default is 32 and dense_flow's 15 - both differ from TSN's 20


def code_scale(bound: float) -> float:
    """Code steps per pixel: 255 / (2 * bound)."""
    if bound <= 0:
        raise ConfigError(f"bound must be positive, got {bound}")
    return 255.0 / (2.0 * bound)


def flow_to_code(flow: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Continuous code in [0, 255] (no rounding): ``(clip(flow, -b, b) + b) * 255 / (2b)``.

    Args:
        flow: flow components in pixels, any shape.
        bound: clipping bound in pixels.
    Returns:
        float array of the same shape, in code units.
    """
    clipped = np.clip(np.asarray(flow, dtype=np.float64), -bound, bound)
    return (clipped + bound) * code_scale(bound)


def quantize_flow(flow: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """uint8 code of ``flow`` (px): :func:`flow_to_code` rounded to the nearest integer."""
    return np.rint(flow_to_code(flow, bound)).astype(np.uint8)


def dequantize_flow(code: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Flow in pixels (float32) from a code in [0, 255]; exact inverse of :func:`flow_to_code`.

    For in-bound flow, ``|dequantize(quantize(f)) - f| <= bound / 255`` (half a step).
    """
    return (np.asarray(code, dtype=np.float32) / np.float32(code_scale(bound)) - np.float32(bound)).astype(np.float32)


CODE_CENTER = 127.5  # code of zero motion
CODE_SCALE = 127.5  # network input = (code - 127.5) / 127.5, in [-1, 1]; zero motion -> 0


def code_to_input(code):
    """Network input of a flow code (numpy array or torch tensor, 0..255) in [-1, 1].

    Both the precomputed TV-L1 path (uint8 JPEG codes) and the embedded estimator (continuous
    codes) go through this one function, so a temporal classifier trained on one can start the other.
    """
    return (code - CODE_CENTER) / CODE_SCALE
