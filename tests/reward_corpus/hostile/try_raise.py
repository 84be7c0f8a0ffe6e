def is_recovered(state):
    try:
        x = 1
    except Exception:
        raise
    return 1
def calculate_reward(state, action): return -1.0
