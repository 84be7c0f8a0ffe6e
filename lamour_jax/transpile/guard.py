"""Transpile + first compile of an untrusted program in a child process, with a deadline and
a memory cap: the last line of defence behind the work budget (budget.py).

A child process rather than a thread, because a thread cannot be stopped once XLA is
compiling (the work is in C++), and its memory is the caller's own; a child can be killed
outright and its memory is counted and freed on its own. The child is started fresh for each
program (about a second of Python and JAX imports, not counted against the deadline, which
starts when the child says it is ready) and runs on the CPU, so it never touches an
accelerator the caller is training on.

    program = transpile_guarded(reply, obs_dim, action_dim)   # RewardCodeError on any failure

Run as `python -m lamour_jax.transpile.guard`: the child side (JSON request on stdin, JSON
verdict on stdout).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lamour_jax.transpile.budget import LIMITS, BudgetError
from lamour_jax.transpile.errors import RewardCodeError

STARTUP_SECONDS = 120.0  # Python + JAX imports in the child, before the deadline starts
COMPILE_BATCH = 8  # the first compile is of the vmapped functions, as training uses them
_POLL_SECONDS = 0.02
_READY = "ready"


def _resident_bytes(pid: int) -> int | None:
    """Resident memory of a process from /proc (Linux); None where that is not available."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _limit_address_space(memory_bytes: int) -> None:
    """A hard backstop in the child: the resident cap is polled, this one is enforced by the
    kernel. Generous, because JAX reserves far more address space than it touches."""
    cap = max(4 * memory_bytes, 8 << 30)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def transpile_guarded(source: str | bytes, obs_dim: int, action_dim: int, *,
                      seconds: float = LIMITS.guard_seconds,
                      memory_bytes: int = LIMITS.guard_memory_bytes) -> Any:
    """`transpile(source, obs_dim, action_dim)` after the same program was transpiled and
    compiled in a child process within `seconds` and `memory_bytes`. Returns the
    RewardProgram; any failure, the child's included, is a RewardCodeError."""
    from lamour_jax.transpile.extract import decode_source
    from lamour_jax.transpile.program import transpile

    text = decode_source(source)  # bytes and bad encodings fail here, before any process
    request = json.dumps({"source": text, "obs_dim": obs_dim, "action_dim": action_dim})
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("XLA_FLAGS", None)
    # No preexec_fn: it would make subprocess fork this multithreaded (JAX) process; the
    # child sets its own address-space limit first thing.
    proc = subprocess.Popen(  # noqa: S603 - our own module, no shell
        [sys.executable, "-m", "lamour_jax.transpile.guard", str(memory_bytes)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        text=True)
    try:
        verdict = _supervise(proc, request, seconds, memory_bytes)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    if not verdict.get("ok"):
        raise RewardCodeError(verdict.get("error", "rejected by the guard"),
                              line=verdict.get("line"))
    return transpile(text, obs_dim, action_dim)


def _supervise(proc: subprocess.Popen, request: str, seconds: float,
               memory_bytes: int) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    startup_deadline = time.monotonic() + STARTUP_SECONDS
    ready_line = _read_line(proc, startup_deadline, memory_bytes, "starting")
    if ready_line.strip() != _READY:
        return _died(proc, "while starting")
    try:
        proc.stdin.write(request)
        proc.stdin.close()
    except BrokenPipeError:
        return _died(proc, "while reading the program")
    verdict_line = _read_line(proc, time.monotonic() + seconds, memory_bytes, "compiling",
                              seconds)
    try:
        return json.loads(verdict_line)
    except json.JSONDecodeError:
        return _died(proc, "while transpiling or compiling")


def _read_line(proc: subprocess.Popen, deadline: float, memory_bytes: int, stage: str,
               seconds: float | None = None) -> str:
    """The child's next line of output, watching the clock and its memory meanwhile."""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            if selector.select(timeout=_POLL_SECONDS):
                return proc.stdout.readline()
            resident = _resident_bytes(proc.pid)
            if resident is not None and resident > memory_bytes:
                proc.kill()
                raise BudgetError("guard_memory_bytes", f"transpiling and compiling the "
                                  f"program used more than {memory_bytes / 2**30:.2g} GiB",
                                  limit=memory_bytes)
            if time.monotonic() > deadline:
                proc.kill()
                if seconds is None:
                    raise RewardCodeError(f"the guard's checker process did not start within "
                                          f"{STARTUP_SECONDS:g} s")
                raise BudgetError("guard_seconds", f"transpiling and compiling the program "
                                  f"took longer than {seconds:g} s", limit=seconds)
            if proc.poll() is not None:
                return proc.stdout.readline()


def _died(proc: subprocess.Popen, when: str) -> dict[str, Any]:
    proc.wait()
    tail = (proc.stderr.read() if proc.stderr else "").strip().splitlines()
    last = tail[-1][:300] if tail else f"exit status {proc.returncode}"
    return {"ok": False, "error": f"the guard's checker process failed {when}: {last}"}


# -- the child side -------------------------------------------------------------------------

def _child(memory_bytes: int) -> int:
    _limit_address_space(memory_bytes)
    import jax
    import jax.numpy as jnp

    from lamour_jax.transpile.program import transpile

    print(_READY, flush=True)
    request = json.loads(sys.stdin.read())
    obs_dim, action_dim = int(request["obs_dim"]), int(request["action_dim"])
    try:
        program = transpile(request["source"], obs_dim, action_dim)
        states = jnp.zeros((COMPILE_BATCH, obs_dim), jnp.float32)
        actions = jnp.zeros((COMPILE_BATCH, action_dim), jnp.float32)
        jax.block_until_ready(jax.jit(jax.vmap(program.components))(states, actions))
        jax.block_until_ready(jax.jit(jax.vmap(program.is_recovered))(states))
        verdict: dict[str, Any] = {"ok": True}
    except RewardCodeError as err:
        verdict = {"ok": False, "error": err.reason, "line": err.line}
    except Exception as err:  # noqa: BLE001 - XLA's own failures, reported as the program's
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
        verdict = {"ok": False, "error": f"compiling the program failed: "
                                         f"{type(err).__name__}: {first}"}
    print(json.dumps(verdict), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child(int(sys.argv[1])))
