def is_recovered(state):
    with open("CANARY", "w") as f:
        f.write("x")
    return 1
def calculate_reward(state, action): return -1.0
