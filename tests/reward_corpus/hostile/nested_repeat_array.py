import numpy as np
def calculate_reward(state, action):
    grid = [[0.5] * 2000] * 2000
    return -float(np.mean(np.array(grid)))

def is_recovered(state):
    return state[0] > 0.5
