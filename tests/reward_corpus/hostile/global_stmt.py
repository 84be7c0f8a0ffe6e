COUNT = 0
def is_recovered(state):
    global COUNT
    COUNT += 1
    return 1
def calculate_reward(state, action): return -1.0
