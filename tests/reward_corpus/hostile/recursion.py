def helper(x):
    return helper(x)
def is_recovered(state): return 1
def calculate_reward(state, action): return helper(-1.0)
