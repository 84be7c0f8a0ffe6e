x: open('CANARY', 'w') = 1.0
def calculate_reward(state, action):
    return -x

def is_recovered(state):
    return state[0] > 0.5
