"""Reference recovery reward for the OOD Ant (upside down).

Written by hand for lamour-jax, not model output: it follows the formulas the paper reports
for GPT-4o's program (spec section 3) and is what `--llm offline` uses.
Behaviour: roll the torso back upright and lift it off the ground.
"""
import numpy as np

HEIGHT_TARGET = 0.25
TILT_LIMIT = np.pi / 6


def quaternion_to_euler(w: float, x: float, y: float, z: float) -> tuple:
    """Roll, pitch, yaw (rad) of a unit quaternion (w, x, y, z)."""
    roll = np.arctan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2.0 * (w * y - z * x), -1.0, 1.0))
    yaw = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return roll, pitch, yaw


def is_recovered(state: np.ndarray) -> int:
    height = state[0]
    roll, pitch, _ = quaternion_to_euler(*state[1:5])
    ok = height > HEIGHT_TARGET and abs(pitch) < TILT_LIMIT and abs(roll) < TILT_LIMIT
    return int(ok)


def calculate_reward(state: np.ndarray, action: np.ndarray) -> tuple:
    state = np.nan_to_num(state, nan=0.0, posinf=10.0, neginf=-10.0)
    height = state[0]
    roll, pitch, _ = quaternion_to_euler(*state[1:5])
    height_gap = max(0.0, HEIGHT_TARGET - height)
    roll_gap = max(0.0, abs(roll) - TILT_LIMIT)
    pitch_gap = max(0.0, abs(pitch) - TILT_LIMIT)
    action_cost = 0.1 * np.sum(np.square(action)) / len(action)
    total = -(height_gap + roll_gap + pitch_gap) - action_cost - 0.01
    return total, {"height": -height_gap, "roll": -roll_gap, "pitch": -pitch_gap,
                   "action": -action_cost}
