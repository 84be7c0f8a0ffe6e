def calculate_reward(state, action):
    ok = 1.0 in [1.0, 2.0]
    return -1.0

def is_recovered(state):
    return state[0] > 0.5
