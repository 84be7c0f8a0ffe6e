# dims: 11 3
"""Reward for the hopper recovery."""
import numpy as np
from numpy import pi, clip
from math import sqrt

TARGET_HEIGHT = 0.7
MAX_ANGLE = pi / 6
WEIGHTS = (1.0, 0.5)
SCALE = 2 ** 3 / 8


def is_recovered(state):
    return int(state[0] > TARGET_HEIGHT and abs(state[1]) < MAX_ANGLE)


def calculate_reward(state, action):
    dz = clip(TARGET_HEIGHT - state[0], 0.0, None)
    da = clip(abs(state[1]) - MAX_ANGLE, 0, 10)
    return -SCALE * (WEIGHTS[0] * dz + WEIGHTS[1] * sqrt(da * da)) - 0.01 * float(action @ action)


if __name__ == "__main__":
    s = np.zeros(11)
    print(calculate_reward(s, np.zeros(3)))
