def is_recovered(state): return 1
def calculate_reward(state, action):
    x = 3
    for i in range(100):
        x = x * x
    return -1.0
