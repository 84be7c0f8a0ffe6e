import numpy as np
def calculate_reward(state, action):
    v = np.tile(state, 30)
    return -float(np.sum(v[:, None] * v[None, :]))

def is_recovered(state):
    return state[0] > 0.5
