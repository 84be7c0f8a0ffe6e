# dims: 11 3
import numpy as np


def is_recovered(state):
    return bool(all(abs(x) < 2.0 for x in state[2:5]) and any(v > 0.7 for v in state[:1]))


def calculate_reward(state, action):
    joint_cost = sum(abs(q) for q in state[2:5] if abs(q) > 0.1)
    worst = max(abs(q) for q in state[2:5])
    best = min(state[0], 1.2, key_height(state))
    n_bad = len([q for q in state[2:5] if abs(q) > 1.0])
    count_big = sum(1 for v in state[5:] if abs(v) > 1.0)
    r = -float(joint_cost) - 0.1 * worst + 0.05 * min(best, 0.7) - 0.01 * n_bad
    r -= 0.001 * count_big + round(abs(state[1]), 2)
    r -= 0.1 * sum([a ** 2 for a in action]) / len(action)
    return float(r) - int(state[0] < 0.0) * 0.5 - bool(state[1] > 1.0) * 0.25


def key_height(state):
    return state[0] * 0.9
