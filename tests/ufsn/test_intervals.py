"""Confidence intervals against hand-worked and independent references."""

import math

import numpy as np
import pytest

from ufsn.intervals import bootstrap_ratio_interval, mean_half_width, wilson_interval


def test_wilson_hand_worked():
    # 8 of 10: centre (0.8 + z^2/20) / (1 + z^2/10), spread z sqrt(0.016 + z^2/400) / (1 + z^2/10)
    z = 1.959963984540054
    denom = 1 + z * z / 10
    centre = (0.8 + z * z / 20) / denom
    spread = z * math.sqrt(0.8 * 0.2 / 10 + z * z / 400) / denom
    got = wilson_interval(8, 10)
    assert got.value == 0.8
    assert got.low == pytest.approx(centre - spread) and got.high == pytest.approx(centre + spread)
    assert (got.low, got.high) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # textbook values


def test_wilson_matches_normal_approximation_for_large_n():
    got = wilson_interval(5000, 10000)
    assert got.half_width == pytest.approx(1.959964 * math.sqrt(0.25 / 10000), rel=1e-3)


def test_wilson_edges_and_errors():
    assert wilson_interval(0, 20).low == 0.0 and wilson_interval(20, 20).high == 1.0
    assert wilson_interval(20, 20).low < 1.0  # a perfect score still has an interval
    with pytest.raises(ValueError, match="at least one trial"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="within 0..total"):
        wilson_interval(11, 10)


def test_bootstrap_matches_analytic_standard_error():
    # Mean of 400 draws of N(0, 1) (equal weights): the 95% half-width is ~ 1.96 / sqrt(400) = 0.098.
    rng = np.random.default_rng(1)
    values = rng.normal(size=400)
    got = bootstrap_ratio_interval(values, np.ones(400), seed=0)
    assert got.value == pytest.approx(values.mean())
    assert got.half_width == pytest.approx(1.96 * values.std() / 20, rel=0.1)


def test_bootstrap_is_seeded_and_weighted():
    num, den = np.array([1.0, 9.0, 4.0]), np.array([1.0, 3.0, 2.0])
    a = bootstrap_ratio_interval(num, den, seed=3)
    assert a == bootstrap_ratio_interval(num, den, seed=3)
    assert a.value == pytest.approx(14 / 6)  # pixel-weighted, not the mean of per-pair ratios (2)
    with pytest.raises(ValueError):
        bootstrap_ratio_interval(np.array([]), np.array([]))


def test_mean_half_width():
    assert mean_half_width([2.0, 2.0]) == pytest.approx(math.sqrt(8) / 2)
    assert math.isnan(mean_half_width([]))
