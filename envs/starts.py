"""Start states as arrays, for files and pictures: sampled (OOD or Normal) with their
observations and validity, or settled by passive simulation."""

from __future__ import annotations

import jax
import numpy as np

from lamour_jax.envs.base import Env
from lamour_jax.envs.registry import robot
from lamour_jax.envs.rollout import rollout
from lamour_jax.envs.sampler import OODSampler


def sample_states(name: str, mode: str, n: int, seed: int, normal: bool = False,
                  physics: str | None = None) -> dict[str, np.ndarray]:
    """Start states with their observations and the env's validity test on each."""
    r = robot(name, physics)
    key = jax.random.key(seed)
    if normal:
        qpos, qvel = jax.jit(jax.vmap(r.normal_state))(jax.random.split(key, n))
    else:
        qpos, qvel = jax.jit(OODSampler(r, mode).sample, static_argnums=1)(key, n)

    @jax.jit
    def observe(q: jax.Array, v: jax.Array) -> tuple[jax.Array, jax.Array]:
        data = jax.vmap(r.make_data)(q, v)
        return jax.vmap(r.observe)(data), jax.vmap(r.is_valid)(q, v)

    obs, valid = observe(qpos, qvel)
    return {"qpos": np.asarray(qpos), "qvel": np.asarray(qvel), "obs": np.asarray(obs),
            "valid": np.asarray(valid, bool)}


def settle(env: Env, qpos: jax.Array, qvel: jax.Array, seconds: float) -> jax.Array:
    """qpos after `seconds` of zero-action simulation (one env)."""
    steps = round(seconds / env.dt)
    if steps <= 0:
        return qpos
    state = jax.vmap(env.reset_to)(jax.random.split(jax.random.key(0), 1), qpos[None], qvel[None])
    final, _ = rollout(env, state, jax.random.key(0), steps, random=False)
    return final.data.qpos[0]
