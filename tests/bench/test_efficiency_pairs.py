"""The efficiency table times TV-L1 and DIS on one pair per class: their speed depends on the frames."""

import numpy as np

from bench.perf.efficiency import sample_pairs
from pipeline.synth.dataset import class_table, preset


def test_one_moving_pair_per_demo_class_at_the_requested_size():
    pairs = sample_pairs(40, 24)
    cfg = preset("demo")
    assert len(pairs) == len(class_table(cfg.families, cfg.motions)) == 12
    for first, second in pairs:
        assert first.shape == second.shape == (24, 40, 3) and first.dtype == np.uint8
        assert np.abs(first.astype(int) - second).mean() > 1.0  # the frames move
    firsts = {pair[0].tobytes() for pair in pairs}
    assert len(firsts) == 12  # a different scene per class
