def is_recovered(state): return 1
def compute_reward(state, action): return -1.0
