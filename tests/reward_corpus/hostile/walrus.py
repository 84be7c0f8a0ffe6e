def is_recovered(state): return 1
def calculate_reward(state, action):
    if (n := state[0]) > 0:
        return -n
    return -1.0
