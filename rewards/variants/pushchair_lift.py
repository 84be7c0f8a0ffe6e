"""A PushChair recovery program that pays for lifting the chair, not for holding it.

Written by hand for an experiment (`benchmarks/results/pushchair_cpu.md`, session 43), not
model output and not what `--llm offline` uses. The reference program's reach term pays up to
+10 per step through its log for hands at the lying chair, against at most 1.6 for standing it
up; here reaching is worth at most 1 and the tilt four times what it is there, so the only way
to a much better reward is to raise the chair. Same 5-d state and the same recovered test.
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
    reach = -np.minimum(ee_distance, 1.0)
    lift = -4.0 * np.minimum(abs(tilt), np.pi)
    stage = -10.0
    if abs(tilt) < UPRIGHT:
        stage += 8.0
    action_cost = 1e-3 * np.linalg.norm(action)
    total = reach + lift - action_cost + stage
    return total, {"reach": reach, "lift": lift, "stage": stage, "action": -action_cost}
