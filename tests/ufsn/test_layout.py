"""The one layout conversion against NumPy's own transposes."""

import numpy as np
import pytest

from ufsn.layout import chw, hwc, unit_rgb


@pytest.mark.parametrize("shape", [(4, 5, 3), (2, 4, 5, 2), (2, 3, 4, 5, 3)])
def test_chw_and_hwc_are_numpy_transposes_and_inverse(shape):
    array = np.random.default_rng(0).random(shape).astype(np.float32)  # (..., H, W, C)
    axes = (*range(len(shape) - 3), len(shape) - 1, len(shape) - 3, len(shape) - 2)  # (..., C, H, W)
    np.testing.assert_array_equal(chw(array).numpy(), array.transpose(axes))
    np.testing.assert_array_equal(hwc(chw(array)), array)


def test_unit_rgb_scales_uint8_to_unit_floats():
    rgb = np.array([[[0, 128, 255]]], np.uint8)  # (1, 1, 3)
    x = unit_rgb(rgb)
    assert x.shape == (3, 1, 1) and str(x.dtype) == "torch.float32"
    np.testing.assert_allclose(x[:, 0, 0].numpy(), [0.0, 128 / 255, 1.0], rtol=0, atol=1e-7)


def test_chw_takes_reversed_channels():
    bgr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    rgb = bgr[..., ::-1]  # a negative-stride view, as every OpenCV reader here makes
    np.testing.assert_array_equal(chw(rgb).numpy(), rgb.transpose(2, 0, 1))
