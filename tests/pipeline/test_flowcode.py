"""The TV-L1 quantisation against hand-worked values and its round-trip bound."""

import numpy as np
import pytest

from pipeline.storage.flowcode import dequantize_flow, flow_to_code, quantize_flow


def test_hand_worked_codes():
    flow = np.array([-25.0, -20.0, 0.0, 20.0, 30.0, 0.1, -0.1])
    # (f + 20) * 255 / 40: -20 -> 0, 0 -> 127.5 -> 128 (round half to even gives 128), 20 -> 255
    assert quantize_flow(flow).tolist() == [0, 0, 128, 255, 255, 128, 127]
    assert flow_to_code(np.array([0.0]))[0] == pytest.approx(127.5)


def test_round_trip_within_half_step():
    rng = np.random.default_rng(0)
    flow = rng.uniform(-20, 20, size=10000)
    err = np.abs(dequantize_flow(quantize_flow(flow)) - flow)
    assert err.max() <= 20.0 / 255.0 + 1e-6
    assert err.max() > 0.5 * 20.0 / 255.0  # the bound is tight: rounding really happens


def test_exact_inverse_of_continuous_code():
    flow = np.linspace(-19.9, 19.9, 101)
    assert np.allclose(dequantize_flow(flow_to_code(flow)), flow, atol=1e-5)


def test_other_bound():
    assert quantize_flow(np.array([-32.0, 32.0]), bound=32).tolist() == [0, 255]
    with pytest.raises(ValueError):
        quantize_flow(np.zeros(1), bound=0)
