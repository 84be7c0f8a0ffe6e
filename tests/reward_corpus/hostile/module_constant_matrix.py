import numpy as np
BIG = np.ones((20000, 20000))
def calculate_reward(state, action):
    return -float(BIG[0, 0])

def is_recovered(state):
    return state[0] > 0.5
