def calculate_reward(state, action):
    return -round(12345, -10**50) - 1.0

def is_recovered(state):
    return state[0] > 0.5
