"""A brax environment seen through lamour-jax's `Env` interface, for benchmarks only.

It lets our PPO trainer step exactly the env brax's PPO steps (`brax.envs.get_environment(
name, backend="mjx")`: same model, same solver settings, same observation and reward code),
so a throughput comparison measures the two learners and nothing else. Normal variant only:
brax's `done` (its healthy test) is our termination, the time limit is ours, as brax's
`EpisodeWrapper` would apply it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamour_jax.envs.base import State, episode_start_info

PREFIX = "brax:"


class BraxEnv:
    variant = "normal"
    mode = None

    def __init__(self, name: str, episode_length: int = 1000) -> None:
        from brax import envs

        self.name = PREFIX + name
        self.episode_length = int(episode_length)
        self._env = envs.get_environment(name, backend="mjx")

    @property
    def observation_size(self) -> int:
        return int(self._env.observation_size)

    @property
    def action_size(self) -> int:
        return int(self._env.action_size)

    def reset(self, key: jax.Array) -> State:
        key, sub = jax.random.split(key)
        # brax's envs draw their reset noise with raw uint32 keys.
        first = self._env.reset(jax.random.key_data(sub) if _typed(sub) else sub)
        zero = jnp.zeros((), jnp.float32)
        info = episode_start_info(key, valid=first.done == 0)
        return State(first.pipeline_state, first.obs, zero, zero, dict(first.metrics), info)

    def step(self, state: State, action: jax.Array) -> State:
        from brax.envs.base import State as BraxState

        # brax's step updates `metrics` in place: hand it a copy, not our state's dict.
        current = BraxState(state.data, state.obs, state.reward, state.done, dict(state.metrics))
        stepped = self._env.step(current, action)
        terminated = stepped.done > 0
        steps = state.info["steps"] + 1
        truncated = (steps >= self.episode_length) & ~terminated
        info = {
            **state.info,
            "steps": steps,
            "valid": ~terminated,
            "recovered_once": state.info["recovered_once"] | ~terminated,
            "steps_up": jnp.where(terminated, 0, state.info["steps_up"] + 1),
            "original_reward": stepped.reward,
            "truncation": truncated.astype(jnp.float32),
        }
        return state.replace(
            data=stepped.pipeline_state,
            obs=stepped.obs,
            reward=stepped.reward.astype(jnp.float32),
            done=(terminated | truncated).astype(jnp.float32),
            metrics=stepped.metrics,
            info=info,
        )


def _typed(key: jax.Array) -> bool:
    return jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
