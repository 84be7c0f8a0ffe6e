def is_recovered(state): return 1
def calculate_reward(state, action):
    total = 0.0
    for i in range(10 ** 9):
        total -= 1.0
    return total
