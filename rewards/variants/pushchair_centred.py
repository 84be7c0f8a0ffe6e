"""The reference PushChair program moved up by 20: the same shape, about -1 per step while the
chair lies instead of about -21.

Written by hand for a diagnostic (`benchmarks/results/pushchair_cpu.md`, session 43), not a
program to recover with (it breaks the code stage's always-negative rule near the goal).
Beside the reference program and the constant one (`pushchair_flat.py`) it tells the reward's
level apart from its shape.
"""
import numpy as np

NEAR = 0.1  # m: the hands are at the chair
UPRIGHT = 0.1  # rad


def is_recovered(state):
    ee_distance, tilt = state[0], state[2]
    return int(ee_distance < NEAR and abs(tilt) < UPRIGHT)


def calculate_reward(state, action):
    ee_distance = np.nan_to_num(state[0], nan=10.0, posinf=10.0)
    tilt = np.nan_to_num(state[2], nan=np.pi, posinf=np.pi, neginf=-np.pi)
    reach = -ee_distance - np.clip(np.log(ee_distance + 1e-5), -10.0, 0.0)
    stage = -10.0
    if ee_distance < NEAR:
        stage += 2.0
        if abs(tilt) < UPRIGHT:
            stage += 8.0
    action_cost = 1e-3 * np.linalg.norm(action)
    total = reach - abs(tilt) - action_cost + stage + 10.0
    return total, {"reach": reach, "tilt": -abs(tilt), "stage": stage, "action": -action_cost}
