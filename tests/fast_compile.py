"""Compile-time settings for the test suite, applied on import (conftest imports this first).

The tests' programs run for seconds but compile for 10-60 s each on a CPU, and LLVM's
optimisation passes are a quarter to a third of that. Tests do not need fast machine code, so
they skip those passes; the HLO-level passes (fusion included) still run. XLA reads the flags
when jax starts its backend, so this must come before any computation. Child processes the
tests launch inherit the environment; those that set their own XLA_FLAGS build them with
`subprocess_xla_flags`.

The catch: unoptimised machine code runs MJX physics many times slower (a 1000-step hopper
rollout of 4 envs: 43 s against 0.5 s). Tests whose time goes into running long physics
rather than compiling jit those functions with `optimised_jit`, which puts the passes back
for that one program.
"""

import os

import jax

FLAGS = "--xla_backend_optimization_level=0"
if FLAGS not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FLAGS}".strip()


# Full backend optimisation (level 2 ran the rollout above as fast), for programs that run long.
OPTIMISED = {"xla_backend_optimization_level": 3}


def optimised_jit(fn, **jit_kwargs):
    """`jax.jit` with XLA's backend optimisations on, for a test whose time goes into running
    physics rather than compiling it."""
    return jax.jit(fn, compiler_options=OPTIMISED, **jit_kwargs)


def subprocess_xla_flags(devices: int) -> str:
    """XLA_FLAGS for a child process that needs `devices` host (CPU) devices."""
    return f"{os.environ['XLA_FLAGS']} --xla_force_host_platform_device_count={devices}"
