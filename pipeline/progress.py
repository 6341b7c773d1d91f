"""Progress of long steps: a tqdm bar on a terminal, plain periodic lines anywhere else.

tqdm redraws its bar with carriage returns, which a log file, ``tee``, CI or ``less`` keeps as one
ever-growing line. When the stream is not a terminal, :func:`progress_bar` returns a
:class:`PlainProgress` instead: one line when a tenth of the work is done or ``every_s`` seconds
have passed since the last line (whichever comes first, lines at least ``min_gap_s`` apart), and a
closing line. Timing only decides when a line is printed, never what the step does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

EVERY_S = 30.0  # a line at least this often on a step that runs for minutes
MIN_GAP_S = 2.0  # but never two lines closer than this (a step that finishes in seconds prints little)
DECILES = 10  # a line at each tenth of the work


@dataclass(frozen=True)
class PlainStyle:
    """When a :class:`PlainProgress` prints."""

    every_s: float = EVERY_S
    min_gap_s: float = MIN_GAP_S
    steps: int = DECILES

    def __post_init__(self) -> None:
        if self.every_s <= 0 or self.min_gap_s < 0 or self.steps < 1:
            raise ValueError(f"bad progress style {self}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class PlainProgress:
    """The subset of tqdm's interface the project uses, printed as plain lines."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        initial: int = 0,
        leave: bool = True,
        stream: IO[str] | None = None,
        style: PlainStyle = PlainStyle(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = initial
        self.leave = leave
        self.stream = stream if stream is not None else sys.stderr
        self.style = style
        self.clock = clock
        self.postfix = ""
        self._start = clock()
        self._start_n = initial
        self._last_line = self._start
        self._last_step = self._step_of(initial)
        self._printed = 0
        self._printed_n: int | None = None
        self._closed = False

    def _step_of(self, n: int) -> int:
        if not self.total:
            return 0
        return min(n, self.total) * self.style.steps // self.total

    def line(self) -> str:
        """What the next printed line says."""
        elapsed = self.clock() - self._start
        head = f"{self.desc}: " if self.desc else ""
        if self.total:
            text = f"{head}{self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)"
        else:
            text = f"{head}{self.n} {self.unit}"
        text += f", {_duration(elapsed)} elapsed"
        done = self.n - self._start_n
        if self.total and 0 < done and self.n < self.total:
            text += f", ~{_duration(elapsed / done * (self.total - self.n))} left"
        return f"{text}, {self.postfix}" if self.postfix else text

    def _emit(self) -> None:
        print(self.line(), file=self.stream, flush=True)
        self._printed += 1
        self._printed_n = self.n
        self._last_line = self.clock()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        since = now - self._last_line
        step = self._step_of(self.n)
        if since >= self.style.every_s or (step > self._last_step and since >= self.style.min_gap_s):
            self._last_step = step
            self._emit()

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{key}={value}" for key, value in items.items())

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """A closing line for a bar that stays (``leave``) or that has printed before, unless the last
        line already said where it stopped."""
        if self._closed:
            return
        self._closed = True
        if (self.leave or self._printed) and self._printed_n != self.n:
            self._emit()

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("PlainProgress made without an iterable")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool = True,
    initial: int = 0,
    leave: bool = True,
    stream: IO[str] | None = None,
) -> Any:
    """A tqdm bar when ``stream`` (stderr by default) is a terminal, :class:`PlainProgress` when it is
    not, and a disabled tqdm when ``enabled`` is false. Used like tqdm: iterate over it, or
    ``update``/``set_postfix``/``close`` it."""
    from tqdm import tqdm

    stream = stream if stream is not None else sys.stderr
    if not enabled:
        return tqdm(iterable, total=total, disable=True)
    if is_terminal(stream):
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave, file=stream,
                    dynamic_ncols=True)  # fmt: skip
    return PlainProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave, stream=stream)
