def is_recovered(state):
    code = compile("1", "x", "eval")
    return 1
def calculate_reward(state, action): return -1.0
