"""The learners (PPO, and SAC on the same envs and hooks): config, networks, the pure training
programs, evaluation, policy files."""

from lamour_jax.learner.config import PPOConfig
from lamour_jax.learner.factory import make_train
from lamour_jax.learner.ppo import Trainer
from lamour_jax.learner.sac import SACTrainer
from lamour_jax.learner.types import TrainState, Transition

__all__ = ["PPOConfig", "SACTrainer", "TrainState", "Trainer", "Transition", "make_train"]
