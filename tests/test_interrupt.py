"""Deferred stops: the first Ctrl-C/SIGTERM is recorded, the loop stops at its safe point."""

import os
import signal

import pytest

from lamour_jax.interrupt import Terminated, deferred_stop


@pytest.fixture
def default_handlers():
    """Python's own SIGINT/SIGTERM handlers for the test. A suite started as a background job
    (`make test &`, nohup, some CI runners) inherits an ignored SIGINT, which deferred_stop
    rightly leaves ignored (tested below), so a test of the handled path must install it."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for s, handler in previous.items():
        if handler is not None:
            signal.signal(s, handler)


@pytest.mark.parametrize(("signum", "raised"), [(signal.SIGINT, KeyboardInterrupt),
                                                (signal.SIGTERM, Terminated)])
def test_first_signal_is_deferred_to_check_and_second_stops_at_once(signum, raised,
                                                                   default_handlers):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with deferred_stop() as check:
        check()  # nothing requested yet
        os.kill(os.getpid(), signum)  # handled right away, in this thread: only recorded
        with pytest.raises(raised):
            check()
        with pytest.raises(raised):
            os.kill(os.getpid(), signum)  # the second one interrupts where it lands
    # Handlers are restored: the default SIGINT handler raises KeyboardInterrupt again.
    assert {s: signal.getsignal(s) for s in before} == before


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with deferred_stop() as check:
            os.kill(os.getpid(), signal.SIGINT)
            check()  # ignored, as a background job's SIGINT should be
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
