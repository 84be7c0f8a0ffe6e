def is_recovered(state):
    exec("open('CANARY', 'w').write('ran')")
    return 1
def calculate_reward(state, action): return eval("-1.0")
