# dims: 11 3
import numpy as np


def tolerance(x, lower=0.0, upper=1.0, margin=0.5):
    if lower <= x <= upper:
        return 0.0
    gap = lower - x if x < lower else x - upper
    return -min(gap / margin, 2.0)


def action_cost(action, weight=0.1):
    return weight * np.sum(np.square(action)) / len(action)


def is_recovered(state, threshold=0.7):
    return state[0] > threshold and tolerance(state[1], lower=-0.5, upper=0.5) == 0.0


def calculate_reward(state, action):
    height_score = tolerance(state[0], lower=0.7, upper=2.0)
    angle_score = tolerance(state[1], -np.pi / 6, np.pi / 6, margin=1.0)
    return height_score + angle_score - action_cost(action, weight=0.2) - 0.01
