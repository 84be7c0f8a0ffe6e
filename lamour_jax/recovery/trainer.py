"""The recovery trainer: PPO on the OOD env, started from the original policy, with a
method's objective hooked in and the Normal env evaluated alongside (retention)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamour_jax.envs import Env
from lamour_jax.learner import PPOConfig, Trainer, TrainState
from lamour_jax.learner.evaluate import evaluate_episodes
from lamour_jax.recovery.objectives import Objective


class RecoveryTrainer(Trainer):
    def __init__(self, ood_env: Env, normal_env: Env, config: PPOConfig,
                 objective: Objective, init_actor: dict[str, Any]) -> None:
        super().__init__(ood_env, config, reward_fn=objective.reward_fn(),
                         extra_policy_loss=objective.extra_policy_loss(),
                         init_actor=init_actor)
        self.normal_env = normal_env
        self.objective = objective

    def extra_metrics(self, state: TrainState, key: jax.Array) -> dict[str, jax.Array]:
        """Retention: the retrained policy's return on the Normal env (the original task
        from its usual start), to set against the original policy's."""
        def act(obs: jax.Array) -> jax.Array:
            return self.policy.act(state.params["actor"], state.obs_stats, obs)

        out = evaluate_episodes(self.normal_env, act, key, self.config.eval_envs,
                                lambda tree: self._shard(tree, self.config.eval_envs))
        return {"normal_return_mean": jnp.mean(out["return"]),
                "normal_return_std": jnp.std(out["return"])}
