import numpy as np
def calculate_reward(state, action):
    v = np.tile(state, 7)
    m = np.outer(v, v)
    return -float(np.sum(np.dot(m, np.dot(m, np.dot(m, m)))))

def is_recovered(state):
    return state[0] > 0.5
