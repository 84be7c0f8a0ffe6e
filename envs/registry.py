"""Envs by name: the robot (compiled once per process) and its Normal or OOD env."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax

from lamour_jax.envs import (
    ALL_ENV_NAMES,
    MODES,
    PHYSICS,
    VARIANTS,
    check_name,
    default_physics,
)
from lamour_jax.envs.base import Env, Robot, Variant
from lamour_jax.envs.sampler import Mode, OODSampler, bank_reset_fn, mixed_resets


def robot(name: str, physics: str | None = None) -> Robot:
    """The robot (compiled MuJoCo + MJX model) stepped by `physics` (default: the backend's,
    `default_physics()`), built once per process and engine."""
    check_name("env", name, ALL_ENV_NAMES)
    return _robot(name, check_name("physics", physics or default_physics(), PHYSICS))


@functools.cache
def _robot(name: str, physics: str) -> Robot:
    return _build(name).use_physics(physics)


def _build(name: str) -> Robot:
    if name == "pointmass":
        from lamour_jax.envs.pointmass import PointMass

        return PointMass()
    if name == "ant":
        from lamour_jax.envs.ant import Ant

        return Ant()
    if name == "humanoid":
        from lamour_jax.envs.humanoid import Humanoid

        return Humanoid()
    if name == "pushchair":
        from lamour_jax.envs.pushchair import PushChair

        return PushChair()
    from lamour_jax.envs import planar

    return {"halfcheetah": planar.HalfCheetah, "hopper": planar.Hopper,
            "walker2d": planar.Walker2d}[name]()


def make(
    name: str,
    variant: Variant = "normal",
    mode: Mode = "paper",
    *,
    bank_size: int | None = 512,
    bank_seed: int = 0,
    episode_length: int | None = None,
    physics: str | None = None,
    normal_share: float = 0.0,
    diverse_share: float = 0.0,
) -> Env:
    """An env by name.

    variant='ood' resets from the OOD sampler in `mode`. For mode='diverse', `bank_size`
    settled states are sampled once (seed `bank_seed`) and each reset draws one of them at
    random; bank_size=None samples and settles a new state at every reset (exact, slow).
    `physics`: the engine that steps it, "mjx" or "native" (MuJoCo's C engine); default
    `default_physics()`: native where JAX runs on the CPU, MJX on an accelerator.
    `episode_length`: default the task's own (1000 steps; PushChair 400).
    `normal_share` (OOD variant): the share of resets drawn from the Normal env's starts
    instead (`sampler.mixed_resets`; retraining's `--normal-starts`).
    `diverse_share` (OOD variant, mode='paper'): the share of the OOD resets drawn from a
    diverse-mode bank (`bank_size`, `bank_seed`) instead (retraining's `--diverse-starts`).
    """
    if not 0.0 <= normal_share < 1.0:
        raise ValueError(f"normal_share must be in [0, 1), got {normal_share}")
    if not 0.0 <= diverse_share <= 1.0:
        raise ValueError(f"diverse_share must be in [0, 1], got {diverse_share}")
    check_name("env", name, ALL_ENV_NAMES)
    check_name("variant", variant, VARIANTS)
    check_name("OOD mode", mode, MODES)
    r = robot(name, physics)
    if variant == "normal":
        return Env(r, "normal", episode_length=episode_length)
    if mode == "paper":
        reset_fn = r.ood_paper_state
    else:
        reset_fn = _diverse_reset(OODSampler(r, mode), bank_size, bank_seed)
    if diverse_share > 0:
        if mode != "paper":
            raise ValueError("diverse_share mixes diverse starts into mode 'paper'; "
                             f"mode {mode!r} has no other starts")
        reset_fn = mixed_resets(reset_fn, _diverse_reset(OODSampler(r, "diverse"), bank_size,
                                                         bank_seed), diverse_share)
    if normal_share > 0:
        reset_fn = mixed_resets(reset_fn, r.normal_state, normal_share)
    return Env(r, "ood", reset_fn=reset_fn, episode_length=episode_length, mode=mode)


def _diverse_reset(sampler: OODSampler, bank_size: int | None, bank_seed: int
                   ) -> Callable[[jax.Array], tuple[jax.Array, jax.Array]]:
    if bank_size is None:
        return sampler.sample_one
    qpos, qvel = jax.jit(sampler.sample, static_argnums=1)(jax.random.key(bank_seed), bank_size)
    return bank_reset_fn(qpos, qvel)
