"""Reference recovery reward for the OOD Walker2d (lying flat).

Written by hand for lamour-jax, not model output: it follows the formulas the paper reports
for GPT-4o's program (spec section 3) and is what `--llm offline` uses.
Behaviour: get the legs under the body and stand the torso up.
"""
import math

import numpy as np

MIN_HEIGHT = 0.8
MAX_TILT = math.pi / 6


def is_recovered(state: np.ndarray) -> int:
    height, angle = state[0], state[1]
    if height > MIN_HEIGHT and abs(angle) < MAX_TILT:
        return 1
    return 0


def calculate_reward(state: np.ndarray, action: np.ndarray) -> tuple:
    height, angle = np.nan_to_num(state[:2], nan=0.0)
    components = {}
    components["height"] = -max(0.0, MIN_HEIGHT - height)
    components["tilt"] = -max(0.0, abs(angle) - MAX_TILT)
    components["action"] = -0.1 * float(np.dot(action, action)) / len(action)
    total = sum(components.values()) - 0.01
    return total, components
