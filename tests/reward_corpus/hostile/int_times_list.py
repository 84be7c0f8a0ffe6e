import numpy as np
def calculate_reward(state, action):
    v = 100000 * [state[0]]
    return -np.sum(np.array(v))

def is_recovered(state):
    return state[0] > 0.5
