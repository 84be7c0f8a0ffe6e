def a(x):
    return x + 1.0
def b(x):
    return a(a(a(a(a(a(a(a(x))))))))
def c(x):
    return b(b(b(b(b(b(b(b(x))))))))
def d(x):
    return c(c(c(c(c(c(c(c(x))))))))
def calculate_reward(state, action):
    return -d(d(d(state[0])))

def is_recovered(state):
    return state[0] > 0.5
