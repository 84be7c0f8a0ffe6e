f = lambda x: x
def is_recovered(state): return 1
def calculate_reward(state, action): return f(-1.0)
