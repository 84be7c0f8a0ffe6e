"""Deferred stops: the first Ctrl-C/SIGTERM is recorded, the loop stops at its safe point."""

import signal
import threading

import pytest

from lamour_jax.interrupt import Terminated, deferred_stop


def _signal_this_thread(signum: int) -> None:
    """Deliver `signum` to the calling (main) thread and run its Python handler before
    returning. os.kill(os.getpid()) lets the kernel hand the signal to any of XLA's threads,
    and the main thread may then reach the next line before the handler has run (a flaky
    failure under pytest-xdist)."""
    signal.pthread_kill(threading.get_ident(), signum)


@pytest.mark.parametrize(("signum", "raised"), [(signal.SIGINT, KeyboardInterrupt),
                                                (signal.SIGTERM, Terminated)])
def test_first_signal_is_deferred_to_check_and_second_stops_at_once(signum, raised):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with deferred_stop() as check:
        check()  # nothing requested yet
        _signal_this_thread(signum)  # handled right away, in this thread: only recorded
        with pytest.raises(raised):
            check()
        with pytest.raises(raised):
            _signal_this_thread(signum)  # the second one interrupts where it lands
    # Handlers are restored: the default SIGINT handler raises KeyboardInterrupt again.
    assert {s: signal.getsignal(s) for s in before} == before


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with deferred_stop() as check:
            _signal_this_thread(signal.SIGINT)
            check()  # ignored, as a background job's SIGINT should be
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
