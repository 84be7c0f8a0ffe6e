def is_recovered(state):
    t = type(state)
    return 1
def calculate_reward(state, action): return -1.0
