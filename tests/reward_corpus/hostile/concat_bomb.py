import numpy as np
def is_recovered(state): return 1
def calculate_reward(state, action):
    x = state
    for i in range(4):
        x = np.concatenate([x] * 1000)
    return -1.0
