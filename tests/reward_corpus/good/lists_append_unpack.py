# dims: 67 21
import numpy as np

HEAD = 21
UP = 36


def is_recovered(state):
    head, up = state[HEAD], state[UP]
    return head >= 1.4 and up >= 0.9


def calculate_reward(state, action):
    terms = []
    terms.append(max(0, 1.6 - state[HEAD]))
    terms.append(max(0, 1 - state[UP]))
    lx, ly, lz = state[25:28]
    rx, ry, rz = state[31:34]
    feet = [lz, rz]
    terms.append(0.01 * abs(sum(feet) / len(feet) + 1.2))
    weights = [1.0] * 3
    weights[2] = 0.5
    total = -sum(w * t for w, t in zip(weights, terms))
    total -= 0.01 * float(np.sum(np.square(action)))
    return total
