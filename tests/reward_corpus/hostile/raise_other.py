def calculate_reward(state, action):
    if state[0] > 100.0:
        raise SystemExit(open('CANARY', 'w'))
    return -1.0

def is_recovered(state):
    return state[0] > 0.5
