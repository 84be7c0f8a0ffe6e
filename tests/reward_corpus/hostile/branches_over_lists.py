def calculate_reward(state, action):
    acc = [state[0]] * 900
    for i in range(900):
        if state[i % 5] > 0.0:
            acc = [v * 0.5 for v in acc]
        else:
            acc = [v + 1.0 for v in acc]
    return -acc[0]

def is_recovered(state):
    return state[0] > 0.5
