"""Reference recovery reward for the OOD Humanoid (lying on its back).

Written by hand for lamour-jax, not model output: it follows the formulas the paper reports
for GPT-4o's program (spec section 3) and is what `--llm offline` uses.
Behaviour: sit up, get the feet under the body and stand with the head high.
"""
import numpy as np

HEAD_INDEX = 21
TORSO_UP_INDEX = 36


def is_recovered(state):
    return int(state[HEAD_INDEX] >= 1.4 and state[TORSO_UP_INDEX] >= 0.9)


def calculate_reward(state, action):
    head_height = np.nan_to_num(state[HEAD_INDEX])
    torso_up = np.nan_to_num(state[TORSO_UP_INDEX])
    head_cost = max(0.0, 1.6 - head_height)
    upright_cost = max(0.0, 1.0 - torso_up)
    action_cost = 0.01 * np.sum(np.square(action)) / action.size
    return -(head_cost + upright_cost) - action_cost - 0.01
