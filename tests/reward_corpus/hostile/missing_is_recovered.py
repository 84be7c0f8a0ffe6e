def calculate_reward(state, action): return -1.0
