def calculate_reward(state, action):
    ok = state is None
    return -1.0

def is_recovered(state):
    return state[0] > 0.5
