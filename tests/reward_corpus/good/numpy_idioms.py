# dims: 11 3
"""Safe idioms models write: ~, &, |, isinstance, math.isclose, np.finfo, dtype strings,
raise as an input guard, list repetition with the integer on the left."""
import math

import numpy as np


def _height(state: np.ndarray) -> float:
    if not isinstance(state, np.ndarray):
        raise ValueError("state must be an array")
    return float(state[0])


def is_recovered(state):
    upright = (state[0] > 0.7) & (np.abs(state[1]) < 0.5)
    level = math.isclose(state[1], 0.0, abs_tol=0.2) | (state[1] > 1.0)
    return bool(upright and not level) or bool(upright & level)


def calculate_reward(state, action):
    if state.shape[0] != 11:
        raise ValueError("expected the hopper's 11-dimensional state")
    eps = np.finfo(np.float32).eps
    x = np.array(state, dtype="float64")
    bad = ~np.isfinite(x)
    if np.any(bad):
        return -10.0
    weights = 3 * [0.1]
    control = sum(w * a * a for w, a in zip(weights, action)) / len(weights)
    height_gap = max(0.0, 0.7 - _height(x))
    tilt = abs(x[1]) / (math.pi + eps)
    if isinstance(x[0], float) and x[0] - 0.7 >= 0:
        height_gap = 0.0
    return -(height_gap + tilt + control) - 0.01
