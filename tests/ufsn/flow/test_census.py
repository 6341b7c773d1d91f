"""Soft census transform and distance against hand-worked values and a NumPy reference."""

import numpy as np
import pytest
import torch

from ufsn.flow.census import census_border_mask, census_distance, census_transform, to_gray255


def test_hand_worked_3x3():
    gray = torch.zeros(1, 1, 3, 3)
    gray[0, 0, 1, 2] = 3.0  # right neighbour of the centre is 3 grey levels brighter
    c = census_transform(gray, patch=3)
    assert c.shape == (1, 9, 3, 3)
    centre = c[0, :, 1, 1]
    assert centre[5] == pytest.approx(3.0 / np.sqrt(0.81 + 9.0))  # offset (0, +1) is channel 1*3+2
    assert centre[[0, 1, 2, 3, 4, 6, 7, 8]].abs().sum() == 0


def test_matches_numpy_reference():
    rng = np.random.default_rng(0)
    gray = rng.uniform(0, 255, (5, 6)).astype(np.float32)
    c = census_transform(torch.from_numpy(gray)[None, None], patch=3)[0].numpy()
    pad = np.pad(gray, 1)
    for k, (oy, ox) in enumerate((oy, ox) for oy in range(3) for ox in range(3)):
        t = pad[oy : oy + 5, ox : ox + 6] - gray
        np.testing.assert_allclose(c[k], t / np.sqrt(0.81 + t * t), atol=1e-5)


def test_distance_hand_worked_and_zero_for_equal():
    c1 = torch.zeros(1, 2, 1, 1)
    c2 = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    assert census_distance(c1, c2).item() == pytest.approx(1 / 1.1)
    assert census_distance(c2, c2).item() == 0


def test_gray_scale_and_border_mask():
    assert to_gray255(torch.ones(1, 3, 2, 2)).flatten()[0].item() == pytest.approx(255.0)
    m = census_border_mask(8, 9, patch=7)
    assert m.sum() == 2 * 3 and m[0, 0, 3, 3] == 1 and m[0, 0, 2, 3] == 0
