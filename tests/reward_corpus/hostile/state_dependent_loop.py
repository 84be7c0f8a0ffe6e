def is_recovered(state): return 1
def calculate_reward(state, action):
    total = 0.0
    for i in range(int(state[0] * 1000)):
        total -= 1.0
    return total
