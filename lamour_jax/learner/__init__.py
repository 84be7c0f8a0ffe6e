"""PPO learner: config, networks, the pure training program, evaluation, policy files."""

from lamour_jax.learner.config import PPOConfig
from lamour_jax.learner.ppo import Trainer, make_train
from lamour_jax.learner.types import TrainState, Transition

__all__ = ["PPOConfig", "TrainState", "Trainer", "Transition", "make_train"]
