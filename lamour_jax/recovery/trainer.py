"""The recovery trainer: PPO on the OOD env, started from the original policy, with a
method's objective hooked in and the Normal env evaluated alongside (retention)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from lamour_jax.envs import Env
from lamour_jax.envs.wrappers import EnvDevices
from lamour_jax.learner import PPOConfig, Trainer, make_train
from lamour_jax.learner.evaluate import evaluate_episodes
from lamour_jax.learner.types import ActFn, MetricsFn
from lamour_jax.recovery.objectives import Objective


def retention(normal_env: Env, episodes: int) -> MetricsFn:
    """The retrained policy's return on the Normal env (the original task from its usual
    start), to set against the original policy's."""

    def metrics(act: ActFn, key: jax.Array, devices: EnvDevices) -> dict[str, jax.Array]:
        out = evaluate_episodes(normal_env, act, key, episodes, devices)
        return {"normal_return_mean": jnp.mean(out["return"]),
                "normal_return_std": jnp.std(out["return"])}

    return metrics


def recovery_trainer(ood_env: Env, normal_env: Env, config: PPOConfig, objective: Objective,
                     init_actor: dict[str, Any], train_env: Env | None = None) -> Trainer:
    """`train_env`: where the rollouts start when not `ood_env` (OOD starts mixed with
    Normal ones); evaluation always starts from `ood_env`'s."""
    return make_train(ood_env if train_env is None else train_env, config,
                      reward_fn=objective.reward_fn(),
                      extra_policy_loss=objective.extra_policy_loss(), init_actor=init_actor,
                      extra_metrics=retention(normal_env, config.eval_envs), eval_env=ood_env)
