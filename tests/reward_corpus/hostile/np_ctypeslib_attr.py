import numpy as np
def is_recovered(state): return 1
def calculate_reward(state, action):
    lib = np.ctypeslib.load_library("libc", "/lib")
    return -1.0
