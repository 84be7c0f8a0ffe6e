import numpy as np
def calculate_reward(state, action):
    return -float(np.mean(np.linspace(0.0, 1.0, 10**9)))

def is_recovered(state):
    return state[0] > 0.5
