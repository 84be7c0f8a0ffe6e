import numpy as np
def is_recovered(state): return 1
def calculate_reward(state, action):
    return np._core.multiarray.dot(action, action)
