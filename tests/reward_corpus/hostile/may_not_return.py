def is_recovered(state):
    if state[0] > 0.7:
        return 1
def calculate_reward(state, action): return -1.0
