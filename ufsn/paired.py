"""Paired comparisons of two methods scored on the same items (test clips, flow pairs).

Two methods on the same test clips are not independent samples: clips that both get right (or both
get wrong) say nothing about which is better. A paired test looks only at the items where they
differ, so it separates methods whose independent 95% intervals overlap.

- Accuracy: McNemar's exact test (a two-sided binomial test on the discordant clips) for the
  p-value, and a seeded paired bootstrap of the accuracy difference for its 95% interval.
- EPE: a seeded paired bootstrap of the difference of pixel-weighted mean EPEs, resampling pairs.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ufsn.intervals import BOOTSTRAP_RESAMPLES, Interval

ALPHA = 0.05  # two-sided level of every paired test: the 95% the tables' intervals use


class PairedAccuracy(NamedTuple):
    """Accuracy of ``a`` minus accuracy of ``b`` (fractions) over the same ``n`` clips."""

    difference: Interval  # value, low, high: paired bootstrap 95% interval
    p_value: float  # McNemar's exact test
    n: int  # clips scored by both
    a_only: int  # clips ``a`` gets right and ``b`` wrong
    b_only: int  # clips ``b`` gets right and ``a`` wrong

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


class PairedRatio(NamedTuple):
    """Pixel-weighted mean error of ``a`` minus that of ``b`` over the same ``n`` pairs."""

    difference: Interval  # paired bootstrap 95% interval
    n: int

    @property
    def significant(self) -> bool:
        return self.difference.low > 0 or self.difference.high < 0


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: P(a binomial(n, 1/2) count is as far from n/2 as observed).

    ``n = a_only + b_only`` discordant items; with none, the methods cannot be told apart (p = 1).
    """
    if a_only < 0 or b_only < 0:
        raise ValueError(f"discordant counts must be >= 0, got {a_only}, {b_only}")
    n, k = a_only + b_only, min(a_only, b_only)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n  # P(X <= k), exact in rationals then divided
    return min(1.0, 2.0 * tail)


def _percentiles(stats: np.ndarray, value: float) -> Interval:
    low, high = np.percentile(stats, [2.5, 97.5])
    return Interval(value, float(low), float(high))


def paired_accuracy(a_correct: np.ndarray, b_correct: np.ndarray, seed: int = 0,
                    resamples: int = BOOTSTRAP_RESAMPLES) -> PairedAccuracy:  # fmt: skip
    """``a_correct``, ``b_correct``: (N,) booleans, item i the same clip for both."""
    a = np.asarray(a_correct, dtype=bool)  # (N,)
    b = np.asarray(b_correct, dtype=bool)  # (N,)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"need two equal-length non-empty 1-D arrays, got {a.shape} and {b.shape}")
    per_item = a.astype(np.float64) - b.astype(np.float64)  # (N,) in {-1, 0, 1}
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(a), size=(resamples, len(a)))  # (R, N)
    stats = per_item[index].mean(axis=1)  # (R,)
    a_only, b_only = int((a & ~b).sum()), int((b & ~a).sum())
    return PairedAccuracy(_percentiles(stats, float(per_item.mean())), mcnemar_exact(a_only, b_only), len(a),
                          a_only, b_only)  # fmt: skip


def paired_ratio_difference(a_num: np.ndarray, a_den: np.ndarray, b_num: np.ndarray, b_den: np.ndarray,
                            seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> PairedRatio:  # fmt: skip
    """sum(a_num)/sum(a_den) - sum(b_num)/sum(b_den), items resampled together for both methods.

    For EPE: numerators are each pair's summed pixel errors, denominators its pixel counts.
    """
    arrays = [np.asarray(x, dtype=np.float64) for x in (a_num, a_den, b_num, b_den)]  # (N,) each
    if len({x.shape for x in arrays}) != 1 or arrays[0].ndim != 1 or len(arrays[0]) == 0:
        raise ValueError(f"need four equal-length non-empty 1-D arrays, got {[x.shape for x in arrays]}")
    an, ad, bn, bd = arrays
    if ad.sum() <= 0 or bd.sum() <= 0:
        raise ValueError("both methods need a positive total of pixels")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(an), size=(resamples, len(an)))  # (R, N)
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = an[index].sum(1) / ad[index].sum(1) - bn[index].sum(1) / bd[index].sum(1)  # (R,)
    stats = stats[np.isfinite(stats)]  # a resample with no pixel of a group has no mean
    return PairedRatio(_percentiles(stats, float(an.sum() / ad.sum() - bn.sum() / bd.sum())), len(an))
