"""Middlebury colour wheel and the .flo format."""

import numpy as np
import pytest

from ufsn.flow.viz import color_wheel, flow_to_color, read_flo, write_flo


def test_flo_round_trip_and_layout(tmp_path):
    flow = np.random.default_rng(0).normal(size=(5, 7, 2)).astype(np.float32)
    path = tmp_path / "a.flo"
    write_flo(path, flow)
    data = path.read_bytes()
    assert len(data) == 12 + 8 * 5 * 7
    assert np.frombuffer(data[:4], "<f4")[0] == np.float32(202021.25)
    assert tuple(np.frombuffer(data[4:12], "<i4")) == (7, 5)  # width first
    assert np.frombuffer(data[12:20], "<f4").tolist() == flow[0, 0].tolist()  # u, v interleaved
    np.testing.assert_array_equal(read_flo(path), flow)


def test_flo_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.flo"
    bad.write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="bad.flo.*magic"):
        read_flo(bad)
    write_flo(bad, np.zeros((2, 2, 2), np.float32))
    bad.write_bytes(bad.read_bytes()[:-4])
    with pytest.raises(ValueError, match="does not match 2x2"):
        read_flo(bad)
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        write_flo(tmp_path / "x.flo", np.zeros((2, 2)))


def test_wheel_and_directions():
    wheel = color_wheel()
    assert wheel.shape == (55, 3) and tuple(wheel[0]) == (255, 0, 0) and tuple(wheel[15]) == (255, 255, 0)
    flow = np.array([[[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0], [2e9, 0.0]]])
    rgb = flow_to_color(flow, max_flow=1.0)
    assert tuple(rgb[0, 0]) == (255, 0, 0)  # rightwards is red
    assert rgb[0, 1, 0] < 30 and rgb[0, 1, 1] > 200 and rgb[0, 1, 2] > 200  # leftwards is cyan
    assert tuple(rgb[0, 2]) == (255, 255, 255)  # no motion is white
    assert tuple(rgb[0, 3]) == (0, 0, 0)  # unknown is black


def test_reads_real_middlebury(realdata):
    flow = read_flo(realdata / "flow_gt" / "middlebury_RubberWhale" / "flow10.flo")
    assert flow.shape == (388, 584, 2)
    known = np.abs(flow) < 1e9
    assert 0.95 < known.all(axis=-1).mean() < 1.0 and np.abs(flow[known]).max() < 10
