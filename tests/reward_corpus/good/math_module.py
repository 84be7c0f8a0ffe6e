# dims: 17 6
import math


def is_recovered(state):
    return 1 if math.fabs(state[1]) < math.radians(30) and state[0] > -0.1 else 0


def calculate_reward(state, action):
    angle = state[1]
    wrapped = math.atan2(math.sin(angle), math.cos(angle))
    dist = math.hypot(state[0], wrapped)
    penalty = -math.sqrt(dist * dist + 1e-6) - 0.1 * math.exp(-abs(state[0])) * 0
    penalty += -0.05 * math.log(1.0 + abs(wrapped)) - math.pi * 0.0
    penalty -= 0.1 * sum(math.pow(a, 2) for a in action) / 6
    return penalty
