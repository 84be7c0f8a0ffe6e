"""Reference recovery reward for the OOD PushChair (the chair knocked over onto its back).

Written by hand for lamour-jax, not model output: it follows the staged formula the paper
reports for GPT-4o's program (spec section 3) and is what `--llm offline` uses. The state is
the 5-d vector [ee_distance, target_distance, chair_tilt, chair_speed, chair_spin].
Behaviour: reach the chair with both hands and tip it back onto its casters.
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
    # The paper's terms sum to at most about +10 (the log term near the chair): shifted down
    # so that the reward stays negative, as the code stage's rules ask.
    total = reach - abs(tilt) - action_cost + stage - 10.0
    return total, {"reach": reach, "tilt": -abs(tilt), "stage": stage, "action": -action_cost}
