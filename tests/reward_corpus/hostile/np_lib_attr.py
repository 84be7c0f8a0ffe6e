import numpy as np
def is_recovered(state): return 1
def calculate_reward(state, action):
    f = np.lib.npyio.savetxt
    return -1.0
