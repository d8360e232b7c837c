"""Progress of long work: a bar on a terminal, plain flushed lines anywhere else.

``build-dataset``, ``evaluate`` and ``train`` run for minutes to hours, often as cluster batch jobs
whose standard error goes to a file. A tqdm bar there is either silent or a stream of carriage
returns, so off a terminal :class:`Progress` writes one ordinary line every tenth of the work or
every 30 seconds, whichever comes first, each flushed at once.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")
EVERY_FRACTION = 0.1
EVERY_SECONDS = 30.0


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 5 s`` or ``2 h 14 min``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class Progress:
    """Counts work done and shows it: a tqdm bar on a terminal, plain lines otherwise.

    Parameters
    ----------
    total : int
        Units of work in all.
    desc : str
        What is being done (``building``, the model's name, ``epoch 3/20``).
    unit : str
        What a unit is (``img``, ``batch``).
    initial : int
        Units already done (a resumed run).
    enabled : bool
        Whether to show anything at all.
    stream : file, optional
        Where to write (default: standard error); a terminal gets a bar.

    Notes
    -----
    Lines are written when work is reported done (:meth:`update`): a line when the work crosses a
    tenth, or when 30 seconds have passed since the last line, and a last one at :meth:`close` if the
    count moved since.
    """

    def __init__(
        self,
        total: int,
        desc: str,
        *,
        unit: str = "img",
        initial: int = 0,
        enabled: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.total, self.desc, self.unit, self.done, self.initial = total, desc, unit, initial, initial
        terminal = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.bar = (
            tqdm(total=total, initial=initial, desc=desc, unit=unit, file=self.stream) if terminal else None
        )
        self.lines = enabled and not terminal
        self.started = self.last_time = time.monotonic()
        self.last_step, self.last_done = self._step(), initial

    def _step(self) -> int:
        return int(self.done / self.total / EVERY_FRACTION + 1e-9) if self.total else 0

    def update(self, count: int = 1) -> None:
        """Record ``count`` more units done."""
        if self.bar is not None:
            self.bar.update(count)
            return
        self.done += count
        if not self.lines:
            return
        now = time.monotonic()
        if self._step() > self.last_step or now - self.last_time >= EVERY_SECONDS:
            self._line(now)

    def _line(self, now: float) -> None:
        elapsed = now - self.started
        share = self.done / self.total if self.total else 1.0
        text = f"{self.desc}: {self.done}/{self.total} {self.unit} ({100 * share:.0f}%), {_duration(elapsed)}"
        if 0 < share < 1 and self.done > self.initial:  # the rate of this attempt, not of a resumed one
            text += (
                f", about {_duration(elapsed / (self.done - self.initial) * (self.total - self.done))} left"
            )
        print(text, file=self.stream, flush=True)
        self.last_time, self.last_step, self.last_done = now, self._step(), self.done

    def iterate(self, items: Iterable[T]) -> Iterator[T]:
        """Yield ``items``, counting one unit after each."""
        for item in items:
            yield item
            self.update(1)

    def close(self) -> None:
        """End the bar, or write the last line if the count moved since the last one."""
        if self.bar is not None:
            self.bar.close()
        elif self.lines and self.done != self.last_done:
            self._line(time.monotonic())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
