def gen():
    yield 1
    return 1
def is_recovered(state): return 1
def calculate_reward(state, action): return -1.0
