def is_recovered(state): return 1
def calculate_reward(state, action):
    g = calculate_reward.__globals__
    return -1.0
