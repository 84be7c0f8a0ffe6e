def is_recovered(state):
    breakpoint()
    return 1
def calculate_reward(state, action): return -1.0
