import numpy as np
A = np.eye(120) * 1.5
B = A @ A @ A @ A @ A @ A @ A @ A @ A @ A @ A @ A @ A @ A @ A @ A @ A @ A @ A @ A
def calculate_reward(state, action):
    return -float(B[0, 0])

def is_recovered(state):
    return state[0] > 0.5
