"""Stopping long work on Ctrl-C (SIGINT) or SIGTERM without losing what it finished.

SIGTERM is what schedulers (SLURM preemption, Kubernetes, `timeout`) and `kill` send; the CLI
turns it into `Terminated`, a KeyboardInterrupt, so every command treats both alike.

Inside a training loop an exception raised by a signal handler can land anywhere, including in
the middle of an asynchronous checkpoint save, where waiting for the save can then hang.
`deferred_stop` therefore only records the first signal; the loop calls the returned `check`
at a safe point (after a period is saved) and stops there. A second signal stops at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def _on_main_thread() -> bool:
    # Only the main thread may set signal handlers (and Python delivers signals there).
    return threading.current_thread() is threading.main_thread()


def raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def stop_on_sigterm() -> None:
    """From now on SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main thread."""
    if _on_main_thread():
        signal.signal(signal.SIGTERM, raise_terminated)


def _stop_now(signum: int) -> None:
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


@contextlib.contextmanager
def deferred_stop(what: str = "the current evaluation period") -> Iterator[Callable[[], None]]:
    """Within the block, the first SIGINT/SIGTERM only requests a stop; `check()` raises
    KeyboardInterrupt (or Terminated) once one was requested. Handlers are restored on exit.

    A signal the process ignores stays ignored (a shell's background jobs ignore SIGINT)."""
    requested: list[int] = []

    def check() -> None:
        if requested:
            _stop_now(requested[0])

    if not _on_main_thread():
        yield check
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if requested:
            _stop_now(signum)
        requested.append(signum)
        # os.write, not print: a handler may run while the main thread is inside a print.
        os.write(2, f"\nstopping after {what} (again to stop at once)\n".encode())

    # None: a handler set outside Python, which could not be put back; leave those alone too.
    previous = {s: old for s in _SIGNALS
                if (old := signal.getsignal(s)) is not None and old is not signal.SIG_IGN}
    for s in previous:
        signal.signal(s, handler)
    try:
        yield check
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
