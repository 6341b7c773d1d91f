"""Progress off a terminal: plain lines at tenths of the work or every ``every_s``, no carriage returns."""

from __future__ import annotations

import io

import pytest
from tqdm import tqdm

from pipeline.progress import PlainProgress, PlainStyle, progress_bar


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_at_each_tenth_when_far_enough_apart():
    clock, out = FakeClock(), io.StringIO()
    bar = PlainProgress(total=100, desc="tvl1", unit="video", stream=out, clock=clock)
    for _ in range(100):
        clock.now += 1.0  # 1 s a video: each tenth is 10 s after the last line, over the 2 s gap
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 10  # 10%, 20%, ..., 100%; close adds nothing, the last line said 100/100
    assert lines[0] == "tvl1: 10/100 video (10%), 10s elapsed, ~1m30s left"  # 10 s for 10: 90 left at 1 s each
    assert lines[4] == "tvl1: 50/100 video (50%), 50s elapsed, ~50s left"
    assert lines[-1] == "tvl1: 100/100 video (100%), 1m40s elapsed"


def test_a_fast_step_prints_only_its_closing_line():
    clock, out = FakeClock(), io.StringIO()
    bar = PlainProgress(range(1000), desc="shards", unit="video", stream=out, clock=clock)
    for _ in bar:
        clock.now += 0.001  # 1 s in all: every tenth comes within the 2 s gap
    assert out.getvalue().splitlines() == ["shards: 1000/1000 video (100%), 1s elapsed"]


def test_a_slow_step_prints_every_interval_even_between_tenths():
    clock, out = FakeClock(), io.StringIO()
    style = PlainStyle(every_s=30.0)
    bar = PlainProgress(total=10, desc="flow", unit="step", stream=out, clock=clock, style=style)
    clock.now += 95.0  # one step takes 95 s: past the interval, and a tenth
    bar.update(1)
    assert out.getvalue().splitlines() == ["flow: 1/10 step (10%), 1m35s elapsed, ~14m15s left"]


def test_unknown_total_prints_on_time_only_and_postfix_is_kept():
    clock, out = FakeClock(), io.StringIO()
    bar = PlainProgress(desc="epoch 3", unit="batch", leave=False, stream=out, clock=clock)
    bar.set_postfix(loss="2.301", acc="0.12")
    for _ in range(59):
        clock.now += 1.0
        bar.update(1)
    assert out.getvalue() == "epoch 3: 30 batch, 30s elapsed, loss=2.301, acc=0.12\n"
    bar.close()  # printed before, so it closes with a line although leave=False
    assert out.getvalue().splitlines()[-1] == "epoch 3: 59 batch, 59s elapsed, loss=2.301, acc=0.12"


def test_a_short_transient_bar_prints_nothing():
    clock, out = FakeClock(), io.StringIO()
    for _ in PlainProgress(range(20), desc="evaluate", leave=False, stream=out, clock=clock):
        clock.now += 0.05
    assert out.getvalue() == ""


def test_resumed_bar_counts_from_initial_and_estimates_from_this_run():
    clock, out = FakeClock(), io.StringIO()
    bar = PlainProgress(total=200, initial=100, desc="flow-full", unit="step", stream=out, clock=clock)
    for _ in range(20):
        clock.now += 0.5
        bar.update(1)
    # 10 s for 20 steps of this run, 80 left: ~40 s (not from the 100 steps done before the restart)
    assert out.getvalue().splitlines() == ["flow-full: 120/200 step (60%), 10s elapsed, ~40s left"]


def test_progress_bar_picks_tqdm_on_a_terminal_and_plain_lines_elsewhere():
    assert isinstance(progress_bar(total=3, stream=Terminal()), tqdm)
    assert isinstance(progress_bar(total=3, stream=io.StringIO()), PlainProgress)
    disabled = progress_bar(total=3, enabled=False, stream=io.StringIO())
    assert isinstance(disabled, tqdm) and disabled.disable


def test_bad_style_is_refused():
    with pytest.raises(ValueError, match="bad progress style"):
        PlainStyle(steps=0)
