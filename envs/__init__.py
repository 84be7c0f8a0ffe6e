"""Environments: Normal/OOD pairs, validity tests, the OOD-state sampler, cameras.

    from lamour_jax.envs import make
    env = make("hopper", variant="ood", mode="paper")
    state = jax.jit(env.reset)(jax.random.key(0))

The names below are plain data; the env classes and `make` load (with JAX and the MuJoCo
models) when first used, so that `lamour --help` can list the envs without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamour_jax.lazy import lazy_exports

ENV_NAMES: tuple[str, ...] = ("ant", "halfcheetah", "hopper", "walker2d", "humanoid",
                              "pushchair")
# Not a paper env: a tiny point-mass task for fast learning tests and smoke runs.
EXTRA_ENV_NAMES: tuple[str, ...] = ("pointmass",)
ALL_ENV_NAMES: tuple[str, ...] = ENV_NAMES + EXTRA_ENV_NAMES
VARIANTS: tuple[str, ...] = ("normal", "ood")
MODES: tuple[str, ...] = ("paper", "diverse")  # OOD sampler modes (sampler.py)
# Physics engines: MJX (JAX, for accelerators) and MuJoCo's C engine ("native", for CPUs),
# over the same robots (native.py).
PHYSICS: tuple[str, ...] = ("mjx", "native")
# What a run or policy recorded before the engine choice existed was stepped with.
UNRECORDED_PHYSICS = "mjx"


def native_available() -> bool:
    """Whether this MuJoCo has the batch module the C engine steps with (3.17, the project's
    pin, has it)."""
    import importlib.util

    return importlib.util.find_spec("mujoco.batch") is not None


def default_physics() -> str:
    """The engine wherever none is chosen: MuJoCo's C engine where JAX computes on the CPU
    (4-25x the PPO training speed of MJX there, benchmarks/results/native_throughput_cpu.md), MJX
    where JAX has a GPU or TPU (the C engine would run on the host, beside the accelerator) or
    where MuJoCo is too old for it."""
    import jax

    return "native" if jax.default_backend() == "cpu" and native_available() else "mjx"


class UnknownNameError(ValueError):
    """A name outside a fixed set; the message lists the valid ones."""


def check_name(kind: str, value: str, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise UnknownNameError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}")
    return value


__getattr__ = lazy_exports(__name__, {
    "Env": "base", "ObsField": "base", "Robot": "base", "State": "base",
    "OODSampler": "sampler", "make": "registry", "robot": "registry"})

if TYPE_CHECKING:
    from lamour_jax.envs.base import Env, ObsField, Robot, State
    from lamour_jax.envs.registry import make, robot
    from lamour_jax.envs.sampler import OODSampler

__all__ = [
    "ALL_ENV_NAMES", "ENV_NAMES", "EXTRA_ENV_NAMES", "MODES", "PHYSICS", "UNRECORDED_PHYSICS",
    "VARIANTS", "default_physics", "native_available", "Env",
    "ObsField",
    "OODSampler", "Robot", "State",
    "UnknownNameError", "check_name", "make", "robot",
]
