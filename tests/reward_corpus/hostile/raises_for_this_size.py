def calculate_reward(state, action):
    if len(state) != 3:
        raise ValueError('expected the 3-D pointmass state')
    return -1.0

def is_recovered(state):
    return state[0] > 0.5
