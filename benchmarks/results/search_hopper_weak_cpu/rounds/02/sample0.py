"""Reference recovery reward for the OOD Hopper (lying on the ground).

Written by hand for lamour-jax, not model output: it follows the formulas the paper reports
for GPT-4o's program (spec section 3) and is what `--llm offline` uses.
Behaviour: push off the ground to raise the torso and swing it upright.
"""
import numpy as np


def is_recovered(state):
    torso_height = state[0]
    torso_angle = state[1]
    return int(torso_height > 0.7 and abs(torso_angle) < np.pi / 6)


def calculate_reward(state, action):
    torso_height, torso_angle = state[0], state[1]
    if np.isnan(torso_height) or np.isnan(torso_angle):
        return -10.0
    reward = 0.0
    reward -= max(0.0, 0.7 - torso_height)
    reward -= max(0.0, abs(torso_angle) - np.pi / 6)
    reward -= 0.1 * np.sum(np.square(action)) / len(action)
    return reward - 0.01
