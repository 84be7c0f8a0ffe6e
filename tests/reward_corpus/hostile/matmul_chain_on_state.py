import numpy as np
def calculate_reward(state, action):
    v = np.tile(state, 7)
    m = np.outer(v, v) / 1000.0
    for i in range(30):
        m = m @ m
    return -float(np.sum(m))

def is_recovered(state):
    return state[0] > 0.5
