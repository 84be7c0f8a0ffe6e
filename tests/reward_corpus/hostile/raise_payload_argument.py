def calculate_reward(state, action):
    if state[0] > 100.0:
        raise ValueError(open('CANARY', 'w').write('x'))
    return -1.0

def is_recovered(state):
    return state[0] > 0.5
