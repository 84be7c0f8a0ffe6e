def calculate_reward(state, action):
    x = 7 ** 90
    for i in range(6):
        x = x * x
    return -1.0

def is_recovered(state):
    return state[0] > 0.5
