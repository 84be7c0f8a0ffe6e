import numpy as np
def step(x):
    for k in range(200):
        x = np.tanh(x) + 0.1
    return x
def calculate_reward(state, action):
    t = 0.0
    for i in range(100):
        for j in range(100):
            t = t + step(state[0])
    return -t

def is_recovered(state):
    return state[0] > 0.5
