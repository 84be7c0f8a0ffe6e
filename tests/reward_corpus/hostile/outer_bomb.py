import numpy as np
def is_recovered(state): return 1
def calculate_reward(state, action):
    x = np.tile(state, 100000)
    y = x[:, None] * x[None, :]
    return -float(np.sum(y))
