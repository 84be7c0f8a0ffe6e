def is_recovered(state): return int(state[50] > 0)
def calculate_reward(state, action): return -1.0
