"""A watchdog for training programs that stop running without failing.

On XLA's CPU runtime the ant's training program deadlocked: every thread asleep, the process
using no CPU, the host waiting forever for a result (1024 envs every time, 256 envs in
recovery runs and in the sample-reuse training loop; see benchmarks/results/
train_throughput_cpu.md and recovery_ant_cpu.md). The package now avoids that deadlock with
an XLA setting (lamour_jax/xla_runtime.py); the watchdog stays as the net for any other hang.
A program running on the CPU backend always burns CPU time, so an evaluation period during
which the process uses almost none for minutes is stuck, not slow. The watchdog turns that
into a clear error and an exit, with the last checkpoint intact, instead of a run that sits
there until a scheduler kills it. On an accelerator the host idles while it waits, so it is
not used there."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from lamour_jax import xla_runtime

if TYPE_CHECKING:
    from lamour_jax.envs import Env

# Seconds without CPU progress before a period counts as stalled; LAMOUR_STALL_TIMEOUT=0
# turns the watchdog off. Five minutes is far above any pause a healthy period makes.
DEFAULT_TIMEOUT_S = 300.0
# CPU seconds a healthy program uses in any timeout window, at the very least.
MIN_CPU_S = 1.0
# Exit status of a run ended by the stall watchdog (1: failed, 2: bad input, 3: NaN/inf in
# training, 130/143: signals): its own, so that a script can tell a stuck run from a diverged one.
STALL_EXIT = 4


def timeout_from_env() -> float:
    raw = os.environ.get("LAMOUR_STALL_TIMEOUT", "")
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"LAMOUR_STALL_TIMEOUT={raw!r}: expected seconds (0 turns the "
                         "stall watchdog off)") from None
    if value < 0:
        raise ValueError(f"LAMOUR_STALL_TIMEOUT={raw!r}: must be >= 0 (0 turns it off)")
    return value


class StallWatchdog:
    """Calls `on_stall(seconds)` (from its own thread) when, inside `watch()`, the process has
    used less than `min_cpu_s` of CPU time for `timeout_s` seconds. `on_stall` is expected
    to end the process; the watchdog fires at most once."""

    def __init__(self, timeout_s: float, on_stall: Callable[[float], None],
                 cpu_time: Callable[[], float] = time.process_time,
                 min_cpu_s: float = MIN_CPU_S, poll_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self.on_stall = on_stall
        self.cpu_time = cpu_time
        self.min_cpu_s = min_cpu_s
        self.poll_s = poll_s if poll_s is not None else min(5.0, timeout_s / 10)
        self._watching = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = False

    @property
    def enabled(self) -> bool:
        return self.timeout_s > 0

    def __enter__(self) -> StallWatchdog:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="lamour-stall-watchdog",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_s * 2)

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        """The block waits on a compiled program that must keep the CPU busy."""
        self._watching.set()
        try:
            yield
        finally:
            self._watching.clear()

    def _run(self) -> None:
        since, cpu_then = time.monotonic(), self.cpu_time()
        while not self._closed.wait(self.poll_s):
            now, cpu_now = time.monotonic(), self.cpu_time()
            if not self._watching.is_set() or cpu_now - cpu_then >= self.min_cpu_s:
                since, cpu_then = now, cpu_now  # idle outside a period, or making progress
            elif now - since >= self.timeout_s:
                self.fired = True
                self.on_stall(now - since)
                return


def cpu_hang_warning(env: Env, num_envs: int, backend: str, job: str = "train",
                     deadlock_avoided: bool | None = None) -> str | None:
    """Warns before a run that is known to deadlock: more envs than the robot's
    `cpu_safe_envs` on the CPU with the XLA setting that avoids the deadlock turned back on
    (lamour_jax turns XLA's concurrency-optimized scheduler off on import, xla_runtime.py;
    `deadlock_avoided` defaults to what XLA_FLAGS says). The watchdog ends such a run; this
    says why before it starts."""
    if deadlock_avoided is None:
        deadlock_avoided = xla_runtime.deadlock_avoided()
    safe = env.robot.cpu_safe_envs
    if backend == "cpu" and safe is not None and num_envs > safe and not deadlock_avoided:
        return (f"warning: XLA_FLAGS does not set {xla_runtime.SCHEDULER_FLAG}=false: without "
                f"it, {env.name} {job} programs with more than {safe} envs on the CPU have "
                "deadlocked "
                f"in their first period (jax 0.10.2). Drop your setting of that flag (lamour_jax "
                f"sets it to false) or use --num-envs {safe}")
    return None
