# dims: 11 3
import numpy as np


def is_recovered(state):
    height = state[0]
    if height <= 0.7:
        return 0
    elif abs(state[1]) >= np.pi / 6:
        return 0
    else:
        return 1


def calculate_reward(state, action):
    height, angle = state[0], state[1]
    if not np.isfinite(height):
        return -5.0
    total = 0.0
    if height < 0.7:
        total -= 0.7 - height
        if height < 0.3:
            total -= 1.0
            bonus = 0.0
        else:
            bonus = 0.1 * height
        total += bonus
    if abs(angle) > np.pi / 6:
        total -= abs(angle) - np.pi / 6
    elif abs(angle) > 0.1:
        total -= 0.01
    else:
        return total - 0.001
    total -= 0.1 * np.sum(np.square(action)) / 3
    return total
