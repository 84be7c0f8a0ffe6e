def calculate_reward(state, action):
    xs = [state[0]]
    for i in range(40):
        xs = xs + xs
    return -xs[0]

def is_recovered(state):
    return state[0] > 0.5
