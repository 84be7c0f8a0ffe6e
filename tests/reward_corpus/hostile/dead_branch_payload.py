def calculate_reward(state, action):
    if False:
        open('CANARY', 'w').write('x')
    return -1.0

def is_recovered(state):
    return state[0] > 0.5
