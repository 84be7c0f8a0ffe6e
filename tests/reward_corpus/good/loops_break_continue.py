# dims: 17 6
import numpy as np

N_JOINTS = 6


def is_recovered(state):
    ok = True
    for i in range(2, 2 + N_JOINTS):
        if abs(state[i]) > 1.5:
            ok = False
            break
    return ok and abs(state[1]) < 0.5


def calculate_reward(state, action):
    cost = 0.0
    for i in range(2, 2 + N_JOINTS):
        if abs(state[i]) < 0.2:
            continue
        cost += abs(state[i]) - 0.2
        if cost > 3.0:
            break
    for i, a in enumerate(action):
        cost += 0.01 * (i + 1) * a ** 2
    for s, a in zip(state[8:14], action):
        cost += 0.001 * abs(s * a)
    return -cost - abs(state[1])
