"""MJX environments: Normal/OOD pairs, validity tests, the OOD-state sampler, cameras.

    from lamour_jax.envs import make
    env = make("hopper", variant="ood", mode="paper")
    state = jax.jit(env.reset)(jax.random.key(0))
"""

from __future__ import annotations

import functools

import jax

from lamour_jax.envs.base import Env, ObsField, Robot, State, Variant
from lamour_jax.envs.sampler import MODES, Mode, OODSampler, bank_reset_fn

ENV_NAMES: tuple[str, ...] = ("ant", "halfcheetah", "hopper", "walker2d", "humanoid")
# Not a paper env: a tiny point-mass task for fast learning tests and smoke runs.
EXTRA_ENV_NAMES: tuple[str, ...] = ("pointmass",)
ALL_ENV_NAMES: tuple[str, ...] = ENV_NAMES + EXTRA_ENV_NAMES
VARIANTS: tuple[str, ...] = ("normal", "ood")


class UnknownNameError(ValueError):
    """A name outside a fixed set; the message lists the valid ones."""


def check_name(kind: str, value: str, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise UnknownNameError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}")
    return value


@functools.cache
def robot(name: str) -> Robot:
    """The robot (compiled MuJoCo + MJX model), built once per process."""
    check_name("env", name, ALL_ENV_NAMES)
    if name == "pointmass":
        from lamour_jax.envs.pointmass import PointMass

        return PointMass()
    if name == "ant":
        from lamour_jax.envs.ant import Ant

        return Ant()
    if name == "humanoid":
        from lamour_jax.envs.humanoid import Humanoid

        return Humanoid()
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
    episode_length: int = 1000,
) -> Env:
    """An env by name.

    variant='ood' resets from the OOD sampler in `mode`. For mode='diverse', `bank_size`
    settled states are sampled once (seed `bank_seed`) and each reset draws one of them at
    random; bank_size=None samples and settles a new state at every reset (exact, slow).
    """
    check_name("env", name, ALL_ENV_NAMES)
    check_name("variant", variant, VARIANTS)
    check_name("OOD mode", mode, MODES)
    r = robot(name)
    if variant == "normal":
        return Env(r, "normal", episode_length=episode_length)
    sampler = OODSampler(r, mode)
    if mode == "paper":
        reset_fn = r.ood_paper_state
    elif bank_size is None:
        reset_fn = sampler.sample_one
    else:
        qpos, qvel = jax.jit(sampler.sample, static_argnums=1)(jax.random.key(bank_seed),
                                                                bank_size)
        reset_fn = bank_reset_fn(qpos, qvel)
    return Env(r, "ood", reset_fn=reset_fn, episode_length=episode_length, mode=mode)


__all__ = [
    "ALL_ENV_NAMES", "ENV_NAMES", "EXTRA_ENV_NAMES", "MODES", "VARIANTS", "Env", "ObsField",
    "OODSampler", "Robot", "State",
    "UnknownNameError", "check_name", "make", "robot",
]
