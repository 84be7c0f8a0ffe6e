"""A progress bar whose clock keeps moving while one long compiled call runs.

A training run's evaluation period is one compiled call, so its bar's count moves only when a
period ends: 10 minutes or more on a CPU (PushChair, 1M steps; SAC on the ant), which looks like
a hang. Redrawing the bar from a second thread keeps its elapsed time ticking; the watchdog in
`stall.py` is what tells a hang from slow work.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

# Seconds between redraws: a terminal shows them in place; a log file (nohup, CI) keeps each
# one, so there they come once a minute.
TERMINAL_INTERVAL_S = 2.0
LOG_INTERVAL_S = 60.0


def redraw_interval(stream: Any = None) -> float:
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return TERMINAL_INTERVAL_S if isatty is not None and isatty() else LOG_INTERVAL_S


class BarHeartbeat:
    """Inside `with`, calls `bar.refresh()` every `interval_s` seconds (0: never)."""

    def __init__(self, bar: Any, interval_s: float) -> None:
        self.bar = bar
        self.interval_s = interval_s
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> BarHeartbeat:
        if self.interval_s > 0 and not getattr(self.bar, "disable", False):
            self._thread = threading.Thread(target=self._run, name="lamour-progress",
                                            daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._closed.wait(self.interval_s):
            self.bar.refresh()

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 1.0)
