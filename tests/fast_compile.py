"""Compile-time settings for the test suite, applied on import (conftest imports this first).

The tests' programs run for seconds but compile for 10-60 s each on a CPU, and LLVM's
optimisation passes are a quarter to a third of that. Tests do not need fast machine code, so
they skip those passes; the HLO-level passes (fusion included) still run. XLA reads the flags
when jax starts its backend, so this must come before any computation. Child processes the
tests launch inherit the environment; those that set their own XLA_FLAGS build them with
`subprocess_xla_flags`.
"""

import os

FLAGS = "--xla_backend_optimization_level=0"
if FLAGS not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FLAGS}".strip()


def subprocess_xla_flags(devices: int) -> str:
    """XLA_FLAGS for a child process that needs `devices` host (CPU) devices."""
    return f"{os.environ['XLA_FLAGS']} --xla_force_host_platform_device_count={devices}"
