def is_recovered(state):
    while True:
        pass
    return 1
def calculate_reward(state, action): return -1.0
