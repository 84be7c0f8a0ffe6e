def calculate_reward(state, action):
    row = [1.0] * 900
    block = [row, row, row, row, row, row, row, row, row, row, row, row]
    return -float(len(block))

def is_recovered(state):
    return state[0] > 0.5
