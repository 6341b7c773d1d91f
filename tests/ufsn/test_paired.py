"""Paired tests against hand-worked cases, scipy's binomial test and a direct NumPy bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from ufsn.intervals import wilson_interval
from ufsn.paired import mcnemar_exact, paired_accuracy, paired_ratio_difference


def test_mcnemar_hand_worked():
    # 1 against 6 discordant clips: P(X <= 1) for X ~ Bin(7, 1/2) = (1 + 7) / 128, doubled
    assert mcnemar_exact(1, 6) == pytest.approx(16 / 128)
    assert mcnemar_exact(6, 0) == pytest.approx(2 / 64)
    assert mcnemar_exact(3, 3) == 1.0  # capped: doubling P(X <= 3) of Bin(6, 1/2) = 42/64 exceeds 1
    assert mcnemar_exact(0, 0) == 1.0  # no discordant clip: nothing to tell the methods apart


@pytest.mark.parametrize("a_only,b_only", [(0, 1), (2, 9), (7, 7), (15, 4), (30, 12), (0, 40), (55, 61)])
def test_mcnemar_equals_scipy_binomial_test(a_only, b_only):
    expected = binomtest(a_only, a_only + b_only, 0.5, alternative="two-sided").pvalue
    assert mcnemar_exact(a_only, b_only) == pytest.approx(expected, rel=1e-12)


def test_paired_accuracy_hand_worked():
    a = np.array([1, 1, 1, 0], dtype=bool)
    b = np.array([1, 0, 0, 0], dtype=bool)
    result = paired_accuracy(a, b)
    assert result.difference.value == pytest.approx(0.5)
    assert (result.n, result.a_only, result.b_only) == (4, 2, 0)
    assert result.p_value == pytest.approx(0.5)  # 2 of 2 discordant: 2 * (1/4)
    assert not result.significant
    assert -1.0 <= result.difference.low <= 0.5 <= result.difference.high <= 1.0


def test_paired_test_separates_what_overlapping_intervals_cannot():
    # 100 clips: a right on 90, b on 80, every clip b gets right a gets right too
    a = np.arange(100) < 90
    b = np.arange(100) < 80
    wa, wb = wilson_interval(90, 100), wilson_interval(80, 100)
    assert wb.high > wa.low  # the independent 95% intervals overlap
    result = paired_accuracy(a, b, seed=3)
    assert result.p_value == pytest.approx(2 / 2**10) and result.significant
    assert result.difference.value == pytest.approx(0.10)
    assert result.difference.low > 0  # the paired interval excludes zero


def test_identical_methods_have_a_zero_interval_and_p_one():
    a = np.random.default_rng(0).random(50) < 0.7
    result = paired_accuracy(a, a.copy())
    assert result.difference == (0.0, 0.0, 0.0) and result.p_value == 1.0 and not result.significant


def test_paired_ratio_difference_against_a_direct_bootstrap():
    rng = np.random.default_rng(1)
    pixels = rng.integers(50, 100, size=40).astype(float)  # (N,)
    a_err = pixels * rng.uniform(0.5, 1.0, size=40)  # per-pair summed errors
    b_err = pixels * rng.uniform(0.6, 1.2, size=40)
    result = paired_ratio_difference(a_err, pixels, b_err, pixels, seed=7, resamples=500)
    assert result.difference.value == pytest.approx(a_err.sum() / pixels.sum() - b_err.sum() / pixels.sum())
    index = np.random.default_rng(7).integers(0, 40, size=(500, 40))  # the same draws, computed here by loop
    stats = [a_err[i].sum() / pixels[i].sum() - b_err[i].sum() / pixels[i].sum() for i in index]
    low, high = np.percentile(stats, [2.5, 97.5])
    assert (result.difference.low, result.difference.high) == pytest.approx((low, high))
    assert result.n == 40 and result.significant == (high < 0 or low > 0)


def test_paired_ratio_shift_is_significant_and_no_shift_is_not():
    pixels = np.full(30, 100.0)
    errors = np.linspace(50, 150, 30)
    shifted = paired_ratio_difference(errors, pixels, errors + 5.0, pixels)  # b worse by 0.05 px on every pair
    assert shifted.difference.value == pytest.approx(-0.05)
    assert shifted.difference.low == pytest.approx(-0.05) and shifted.difference.high == pytest.approx(-0.05)
    assert shifted.significant
    assert not paired_ratio_difference(errors, pixels, errors[::-1], pixels).significant  # same values, reshuffled


def test_unpaired_inputs_are_refused():
    with pytest.raises(ValueError, match="equal-length"):
        paired_accuracy(np.ones(3, bool), np.ones(4, bool))
    with pytest.raises(ValueError, match="equal-length"):
        paired_ratio_difference(np.ones(3), np.ones(3), np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match=">= 0"):
        mcnemar_exact(-1, 2)
