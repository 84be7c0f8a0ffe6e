def calculate_reward(state, action):
    raise ValueError('no reward for you')

def is_recovered(state):
    return state[0] > 0.5
