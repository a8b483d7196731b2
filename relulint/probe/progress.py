"""The progress of a long probe: a rich bar with an ETA on a terminal's stderr, or the CLI's status line."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any

ProgressArg = bool | Callable[[int, int], None] | None


class Progress:
    """Progress of a long probe: a rich bar with the samples done and an ETA on stderr (auto: shown on a
    TTY once a run looks longer than 2 s), or ``callback(done, total)`` (`status_progress` turns the CLI's
    status line into one)."""

    def __init__(self, progress: ProgressArg, total: int, label: str) -> None:
        self.callback = progress if callable(progress) else None
        self.mode = progress if isinstance(progress, bool) else None
        self.total, self.label = total, label
        self.bar: Any = None
        self.task: Any = None
        self.start = time.perf_counter()

    def update(self, done: int) -> None:
        if self.callback is not None:
            self.callback(done, self.total)
            return
        if self.bar is None and self._wanted(done):
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            self.bar = Progress(*columns, console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total)
        if self.bar is not None:
            self.bar.update(self.task, completed=done)

    def _wanted(self, done: int) -> bool:
        if self.mode is False:
            return False
        if self.mode is True:
            return True
        if not sys.stderr.isatty() or done <= 0:
            return False
        elapsed = time.perf_counter() - self.start
        return elapsed / done * (self.total - done) > 2.0

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def status_progress(
    report: Callable[[str], None], label: str, clock: Callable[[], float] = time.monotonic
) -> Callable[[int, int], None]:
    """A ``progress`` callback for `probe_chain` that writes ``"<label>: 812/2000 samples, ETA 40 s"`` to
    ``report`` (the CLI's status line on stderr), at most ten times a second."""
    start = clock()
    last = [-math.inf]

    def update(done: int, total: int) -> None:
        now = clock()
        if now - last[0] < 0.1 and done < total:
            return
        last[0] = now
        text = f"{label}: {done}/{total} samples"
        if 0 < done < total:
            text += f", ETA {_duration((now - start) / done * (total - done))}"
        report(text)

    return update


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
