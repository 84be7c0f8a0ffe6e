"""Recovery retraining: the LaMOuR objective and its baselines on the PPO learner, the host
run that ranks reward candidates, and the comparison reports."""

from lamour_jax.recovery.objectives import COEFFICIENTS, METHODS, SWITCHES, Objective, Original
from lamour_jax.recovery.run import RecoverySpec, read_history, reward_sources, run_recovery

__all__ = ["COEFFICIENTS", "METHODS", "SWITCHES", "Objective", "Original", "RecoverySpec",
           "read_history", "reward_sources", "run_recovery"]
