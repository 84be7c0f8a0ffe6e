# dims: 17 6
import numpy as np
import math


def is_recovered(state):
    return 0.8 < state[0] < 2.0 and -0.3 < state[1] < 0.3 and not np.isnan(state[2])


def calculate_reward(state, action):
    h = state[0]
    tilt = abs(state[1])
    upright = 1.0 if tilt < math.pi / 6 else 0.0
    standing = h > 0.8 and upright > 0.5
    scale = 0.5 if (h > 1.5 or tilt > 2.0) else 1.0
    fallback = state[2] or 0.25
    penalty = -(max(0, 0.8 - h) * scale + max(0, tilt - math.pi / 6))
    penalty -= 0.0 if standing else 0.05
    penalty -= 0.01 * abs(fallback) if not standing else 0.0
    return penalty - 0.1 * sum(a * a for a in action) / len(action)
