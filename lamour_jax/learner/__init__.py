"""PPO learner: config, networks, the pure training program, checkpoints and the host loop."""

from lamour_jax.learner.config import PPOConfig, default_config
from lamour_jax.learner.ppo import Trainer, TrainState, Transition, make_train

__all__ = ["PPOConfig", "TrainState", "Trainer", "Transition", "default_config", "make_train"]
