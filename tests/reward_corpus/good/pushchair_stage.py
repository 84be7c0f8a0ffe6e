# dims: 5 20
import numpy as np


def is_recovered(state):
    d_ee, tilt = state[0], state[2]
    return int(d_ee < 0.1 and abs(tilt) < 0.1)


def calculate_reward(state, action):
    d_ee = state[0]
    tilt = state[2]
    stage = -10.0
    if d_ee < 0.1:
        stage += 2.0
        if abs(tilt) < 0.1:
            stage += 8.0
    reward = -d_ee - np.clip(np.log(d_ee + 1e-5), -10, 0) - abs(tilt)
    reward -= 1e-3 * np.linalg.norm(action)
    return reward + stage
