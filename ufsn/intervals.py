"""95% confidence intervals of the study's figures: Wilson for accuracies, a seeded bootstrap for EPEs."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

Z95 = 1.959963984540054  # two-sided 95% normal quantile
BOOTSTRAP_RESAMPLES = 2000  # resamples of the pairs: the half-width's own Monte-Carlo error is ~2%


class Interval(NamedTuple):
    """A 95% interval [low, high] around ``value``; ``half_width`` = (high - low) / 2 is what tables print."""

    value: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def wilson_interval(correct: int, total: int, z: float = Z95) -> Interval:
    """Wilson score interval of a proportion ``correct / total`` (fractions 0..1).

    Wilson rather than the normal approximation because it stays inside [0, 1] and keeps its
    coverage near 0 and 1, where the study's best methods sit.
    """
    if total <= 0:
        raise ValueError(f"a proportion needs at least one trial, got total={total}")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be within 0..total, got {correct} of {total}")
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return Interval(p, max(0.0, centre - spread), min(1.0, centre + spread))


def bootstrap_ratio_interval(numerators: np.ndarray, denominators: np.ndarray, seed: int = 0,
                             resamples: int = BOOTSTRAP_RESAMPLES) -> Interval:  # fmt: skip
    """Percentile bootstrap of sum(numerators) / sum(denominators), resampling the items (pairs).

    For EPE the items are frame pairs: numerators = summed pixel errors (px), denominators = pixel
    counts, so the statistic is the pixel-weighted mean EPE and the pairs are the independent units.
    """
    num = np.asarray(numerators, dtype=np.float64)  # (N,)
    den = np.asarray(denominators, dtype=np.float64)  # (N,)
    if num.shape != den.shape or num.ndim != 1 or len(num) == 0 or den.sum() <= 0:
        raise ValueError(f"need equal-length non-empty 1-D arrays with a positive total, got {num.shape}, {den.shape}")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(num), size=(resamples, len(num)))  # (R, N)
    totals = den[index].sum(axis=1)  # (R,)
    stats = num[index].sum(axis=1) / np.where(totals > 0, totals, np.nan)  # (R,)
    low, high = np.nanpercentile(stats, [2.5, 97.5])
    return Interval(float(num.sum() / den.sum()), float(low), float(high))


def mean_half_width(half_widths: list[float]) -> float:
    """Half-width of the mean of independent estimates (one per split): sqrt(sum h^2) / n."""
    if not half_widths:
        return float("nan")
    return math.sqrt(sum(h * h for h in half_widths)) / len(half_widths)
