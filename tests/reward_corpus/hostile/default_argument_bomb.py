import numpy as np
def calculate_reward(state, action, table=np.zeros((50000, 50000))):
    return -1.0

def is_recovered(state):
    return state[0] > 0.5
