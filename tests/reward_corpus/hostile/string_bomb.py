def is_recovered(state): return 1
def calculate_reward(state, action):
    s = "a" * (10 ** 9)
    return -1.0
