def a(x):
    return b(x)
def b(x):
    return a(x)
def is_recovered(state): return 1
def calculate_reward(state, action): return a(-1.0)
