import numpy as np
def calculate_reward(state, action):
    return -float(np.sum(np.repeat(state, 10**8)))

def is_recovered(state):
    return state[0] > 0.5
