import numpy as np
def is_recovered(state):
    open("CANARY", "w").write("ran")
    return 1
def calculate_reward(state, action): return -1.0
