"""Reference recovery reward for the OOD HalfCheetah (on its back).

Written by hand for lamour-jax, not model output: it follows the formulas the paper reports
for GPT-4o's program (spec section 3) and is what `--llm offline` uses.
Behaviour: roll the body back over onto its legs with the torso level.
"""
import numpy as np


def is_recovered(state):
    """Torso near its spawn height and pitch near level."""
    height_offset, pitch = state[0], state[1]
    return int(abs(height_offset) < 0.1 and abs(pitch) < 0.1)


def calculate_reward(state, action):
    if not np.isfinite(state[0]) or not np.isfinite(state[1]):
        return -10.0
    height_offset = state[0]
    pitch = state[1]
    # The raw pitch is not wrapped: a cheetah on its back sits near -pi, and flipping forward
    # through -2pi is not a recovery in the env's test, so the raw value is what counts.
    upright_cost = abs(pitch)
    height_cost = abs(height_offset)
    action_cost = 0.1 * np.sum(action ** 2) / action.shape[0]
    return -(upright_cost + height_cost) - action_cost - 0.01
