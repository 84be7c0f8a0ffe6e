def calculate_reward(state, action):
    return -float((3 ** 3 ** 3 ** 3) % 5)

def is_recovered(state):
    return state[0] > 0.5
