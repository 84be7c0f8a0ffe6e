def is_recovered(state): return 1
def calculate_reward(state, action):
    s = "%s" % 1
    return -1.0
