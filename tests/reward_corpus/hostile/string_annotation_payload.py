def calculate_reward(state: "open('CANARY', 'w')", action):
    return -1.0

def is_recovered(state):
    return state[0] > 0.5
