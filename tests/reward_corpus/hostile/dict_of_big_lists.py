def calculate_reward(state, action):
    big = [state[0]] * 900
    d = dict(a=big, b=big, c=big, d=big, e=big, f=big, g=big, h=big, i=big, j=big, k=big, l=big)
    return -1.0

def is_recovered(state):
    return state[0] > 0.5
