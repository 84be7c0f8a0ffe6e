def is_recovered(state): return 1
def calculate_reward(state, action):
    total = 0.0
    for i in range(1000):
        for j in range(1000):
            total -= 1e-6
    return total
