def is_recovered(state): return 1
def calculate_reward(state, action):
    xs = [0.0] * (10 ** 9)
    return -1.0
