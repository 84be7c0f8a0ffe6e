def calculate_reward(state, action):
    n = int(1e300)
    return -float(n % 7)

def is_recovered(state):
    return state[0] > 0.5
