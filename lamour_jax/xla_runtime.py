"""The XLA setting that keeps the ant's programs from deadlocking on the CPU backend.

On jax 0.10.2's CPU runtime, large MJX programs hung in their first execution with every
thread asleep and the host waiting forever: the ant's training program at 1024 envs every
time, its recovery program at 256, settling the 512-state diverse OOD bank every time
(benchmarks/results/deadlock_cpu.md). XLA's "concurrency optimized" HLO scheduler, on by
default for the CPU, orders the program so that independent thunks run at once on the
intra-op thread pool (two threads here). Turning that scheduler off ran every one of those
programs to the end, at the same speed on the configurations that never hung (hopper x 256).
Why that ordering deadlocks with the MJX solver's nested while loops is not established.

XLA reads XLA_FLAGS once, when jax creates its first backend, so the flag is added when
`lamour_jax` is imported, before any computation. A script that runs jax computations before
importing lamour_jax has started its backend without it: export
XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false there. A user's own setting
of the same flag, either way, is left alone. The flag is CPU-only: GPU compilation ignores it.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"


def _settings(environ: MutableMapping[str, str]) -> list[str]:
    """The values XLA_FLAGS gives the scheduler flag, in order."""
    return [word.partition("=")[2].lower() for word in environ.get("XLA_FLAGS", "").split()
            if word.partition("=")[0] == SCHEDULER_FLAG]


def avoid_cpu_deadlock(environ: MutableMapping[str, str] = os.environ) -> None:
    """Add `SCHEDULER_FLAG=false` to XLA_FLAGS unless the flag is there already."""
    if not _settings(environ):
        flags = environ.get("XLA_FLAGS", "")
        environ["XLA_FLAGS"] = f"{flags} {SCHEDULER_FLAG}=false".strip()


def deadlock_avoided(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Whether XLA_FLAGS turns the concurrency-optimized scheduler off (the last setting of a
    repeated flag is the one XLA keeps)."""
    settings = _settings(environ)
    return bool(settings) and settings[-1] in ("false", "0")


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def use_cpu_devices(count: int) -> None:
    """Split the CPU backend into `count` JAX devices, so the learner's env-batch sharding
    runs on that many cores (`available_cores()` for one per core).

    With the concurrency-optimised scheduler off (above), one XLA:CPU device keeps about one
    core busy; two devices trained the hopper and the ant 1.5-1.7x faster on a 2-core CPU
    (benchmarks/results/cpu_two_devices_cpu.md). Must run before jax starts its backends;
    RuntimeError otherwise. No effect on the GPU or TPU backends."""
    import jax

    if count < 1:
        raise ValueError(f"the CPU device count must be >= 1, got {count}")
    jax.config.update("jax_num_cpu_devices", count)


def device_change_note(recorded: int | None, now: int) -> str | None:
    """What resuming a run on another device count than it last trained on does, when it
    does: the gradient becomes a mean over another split of the env batch, so the rest of the
    run is not the one an unbroken run would have trained (runs from before the count was
    recorded say nothing)."""
    if recorded is None or recorded == now:
        return None
    return (f"note: this run trained on {recorded} device(s) so far and continues on {now}: "
            "the rest of it follows another float path than an unbroken run (use "
            f"--cpu-devices {recorded} on a CPU to continue it exactly)")
