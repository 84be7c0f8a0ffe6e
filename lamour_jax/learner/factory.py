"""`make_train`: the trainer a config's `learner` names (PPO unless it says "sac")."""

from __future__ import annotations

from typing import Any

from lamour_jax.envs.base import Env
from lamour_jax.learner.config import PPOConfig
from lamour_jax.learner.ppo import Trainer
from lamour_jax.learner.sac import SACTrainer
from lamour_jax.learner.types import ExtraLossFn, MetricsFn, RewardFn


def make_train(env: Env, config: PPOConfig, reward_fn: RewardFn | None = None,
               extra_policy_loss: ExtraLossFn | None = None,
               init_actor: dict[str, Any] | None = None,
               extra_metrics: MetricsFn | None = None, eval_env: Env | None = None) -> Trainer:
    trainer = SACTrainer if config.learner == "sac" else Trainer
    return trainer(env, config, reward_fn, extra_policy_loss, init_actor, extra_metrics,
                   eval_env)
