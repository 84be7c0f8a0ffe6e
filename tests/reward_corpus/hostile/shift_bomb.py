def calculate_reward(state, action):
    n = 1
    return -float((n << 10**9) % 3)

def is_recovered(state):
    return state[0] > 0.5
