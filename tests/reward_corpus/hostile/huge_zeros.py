import numpy as np
def is_recovered(state): return 1
def calculate_reward(state, action):
    z = np.zeros((100000, 100000))
    return -1.0
