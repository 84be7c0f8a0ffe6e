def calculate_reward(state, action):
    return -1.0[2J

def is_recovered(state):
    return state[0] > 0.5
