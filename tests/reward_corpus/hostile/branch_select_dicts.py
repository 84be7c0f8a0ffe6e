def calculate_reward(state, action):
    parts = {'k': state[0], 'y': [state[2]] * 900}
    for i in range(900):
        if state[1] > 0.1 * i:
            parts = {'k': parts['k'] * 2.0, 'y': [v + 1.0 for v in parts['y']]}
    return -parts['k']

def is_recovered(state):
    return state[0] > 0.5
