"""Batched rollouts without a learner: random or zero actions, for checks, renders, benchmarks."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from lamour_jax.envs.base import Env, State


def uniform_actions(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)


@functools.partial(jax.jit, static_argnames=("env", "steps", "random"))
def rollout(env: Env, state: State, key: jax.Array, steps: int, random: bool = True
            ) -> tuple[State, dict[str, Any]]:
    """Step a batch of states (leading axis = envs) `steps` times without resets.

    Returns the final state and a per-step trace of what checks need. Episodes are not
    restarted: a `done` env keeps stepping, so callers read the first `done` themselves.
    """
    batch = state.obs.shape[0]

    def body(s: State, k: jax.Array) -> tuple[State, dict[str, Any]]:
        action = (uniform_actions(k, (batch, env.action_size)) if random
                  else jnp.zeros((batch, env.action_size)))
        s = jax.vmap(env.step)(s, action)
        trace = {"qpos": s.data.qpos, "obs": s.obs, "reward": s.reward, "done": s.done,
                 "valid": s.info["valid"], "recovered_once": s.info["recovered_once"],
                 "steps_up": s.info["steps_up"],
                 "original_reward": s.info["original_reward"],
                 "truncation": s.info["truncation"]}
        return s, trace

    return jax.lax.scan(body, state, jax.random.split(key, steps))
