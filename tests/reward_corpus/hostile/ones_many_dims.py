import numpy as np
def calculate_reward(state, action):
    return -float(np.sum(np.ones((4,) * 20)))

def is_recovered(state):
    return state[0] > 0.5
