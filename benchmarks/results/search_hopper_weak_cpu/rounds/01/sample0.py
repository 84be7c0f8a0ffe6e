"""A deliberately weak first program for the reward-search measurement: it rewards the torso's
height alone, ignores its angle, and calls any raised torso recovered."""
import numpy as np


def is_recovered(state):
    return int(state[0] > 0.7)


def calculate_reward(state, action):
    return -max(0.0, 0.7 - state[0]) - 0.01 * np.sum(np.square(action))
