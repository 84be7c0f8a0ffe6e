import numpy as np
def calculate_reward(state, action):
    v = np.tile(state, 900)
    t = 0.0
    for i in range(60):
        t = t + np.median(v + i)
    return -t

def is_recovered(state):
    return state[0] > 0.5
