"""Recovery retraining: the LaMOuR objective and its baselines on the PPO learner, the host
run that ranks reward candidates, and the comparison reports."""

from lamour_jax.recovery.objectives import METHODS, SHAPINGS, SWITCHES, Objective, Original
from lamour_jax.recovery.run import RecoverySpec, reward_sources, run_recovery

__all__ = ["METHODS", "SHAPINGS", "SWITCHES", "Objective", "Original", "RecoverySpec",
           "reward_sources", "run_recovery"]
