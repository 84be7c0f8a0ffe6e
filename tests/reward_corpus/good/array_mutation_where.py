# dims: 17 6
import numpy as np


def is_recovered(state):
    return np.all(np.abs(state[:2]) < np.array([0.1, 0.1]))


def calculate_reward(state, action):
    errors = np.zeros(3)
    errors[0] = abs(state[0])
    errors[1] = abs(state[1])
    errors[2] = np.mean(np.abs(state[2:8]))
    errors = np.where(np.isfinite(errors), errors, 10.0)
    weights = np.array([1.0, 1.0, 0.1])
    total = -float(np.dot(weights, errors))
    total += -0.1 * np.sum(action ** 2) / action.size
    total = total if total < 0 else -1e-3
    return total
