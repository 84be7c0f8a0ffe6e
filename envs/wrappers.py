"""A batch of envs stepped in lockstep with auto-reset: the view of an env the learner uses."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamour_jax.envs.base import Env, State

# Per-episode bookkeeping that a restart must reset. Everything else in `info` describes the
# transition that just ended the episode (reward, truncation, validity) and is kept for the
# learner.
_EPISODE_KEYS = ("steps", "recovered_once")


class AutoResetBatch:
    """`num_envs` copies of `env`; an env whose episode ends restarts from a *fresh* draw of
    the env's reset distribution (for OOD envs: a new OOD-sampler state), never a cached one.

    After a restart, `obs` is the new episode's first observation and `info['terminal_obs']`
    the observation the ended episode reached (needed to bootstrap values at time limits).
    """

    def __init__(self, env: Env, num_envs: int) -> None:
        self.env = env
        self.num_envs = int(num_envs)

    def reset(self, key: jax.Array) -> State:
        state = jax.vmap(self.env.reset)(jax.random.split(key, self.num_envs))
        return state.replace(info={**state.info, "terminal_obs": state.obs})

    def step(self, state: State, action: jax.Array) -> State:
        stepped = jax.vmap(self.env.step)(state, action)
        stepped = stepped.replace(info={**stepped.info, "terminal_obs": stepped.obs})
        # Skip the reset computation entirely on steps where no episode ended (most steps).
        return jax.lax.cond(jnp.any(stepped.done > 0), self._restart_done, lambda s: s, stepped)

    def _restart_done(self, state: State) -> State:
        keys = jax.vmap(jax.random.split)(state.info["rng"])  # (n, 2) keys
        fresh = jax.vmap(self.env.reset)(keys[:, 1])
        done = state.done > 0

        def pick(new: jax.Array, old: jax.Array) -> jax.Array:
            return jnp.where(done.reshape(done.shape + (1,) * (old.ndim - 1)), new, old)

        info = dict(state.info)
        for k in _EPISODE_KEYS:
            info[k] = pick(fresh.info[k], state.info[k])
        info["rng"] = pick(fresh.info["rng"], keys[:, 0])
        return state.replace(
            data=jax.tree.map(pick, fresh.data, state.data),
            obs=pick(fresh.obs, state.obs),
            info=info,
        )
