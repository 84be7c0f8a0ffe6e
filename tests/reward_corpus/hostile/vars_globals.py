def is_recovered(state):
    g = globals()
    return 1
def calculate_reward(state, action): return -1.0
