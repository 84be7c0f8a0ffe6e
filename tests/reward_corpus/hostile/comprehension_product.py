def calculate_reward(state, action):
    return -sum(i * j * state[0] for i in range(1000) for j in range(1000))

def is_recovered(state):
    return state[0] > 0.5
