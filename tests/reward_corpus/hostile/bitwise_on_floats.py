def calculate_reward(state, action):
    return -float(state[0] & state[1])

def is_recovered(state):
    return state[0] > 0.5
