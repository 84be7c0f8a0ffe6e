import numpy as np
def calculate_reward(state, action):
    return -float(np.sum(np.arange(0.0, 1.0, 1e-13)))

def is_recovered(state):
    return state[0] > 0.5
