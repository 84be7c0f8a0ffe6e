"""The reference Ant program with two terms against a flip that carries on past upright.

Written by hand for a diagnostic (`benchmarks/results/ant_landing_native_cpu.md`, session 55),
not model output. Of the reference's recovered ants' episodes that get up, 73-94 % end a
median 2-4 steps later: the flip passes upright and goes on, over Gym's z <= 1.0 ceiling or
onto the other side. The program pays only while the ant is down (the env's validity test), so
these terms shape the flip itself: a cost on the torso's spin and one on rising above 0.8 m. The
rest is the reference's (the paper's formulas), is_recovered unchanged; restated here because
a program is one self-contained file to the transpiler.
"""
import numpy as np

HEIGHT_TARGET = 0.25
HEIGHT_LIMIT = 0.8
TILT_LIMIT = np.pi / 6
SPIN_COST = 0.05  # per rad/s of torso angular speed


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
    spin = SPIN_COST * np.sqrt(np.sum(np.square(state[16:19])))
    leap = max(0.0, height - HEIGHT_LIMIT)
    action_cost = 0.1 * np.sum(np.square(action)) / len(action)
    total = -(height_gap + roll_gap + pitch_gap) - spin - leap - action_cost - 0.01
    return total, {"height": -height_gap, "roll": -roll_gap, "pitch": -pitch_gap,
                   "spin": -spin, "leap": -leap, "action": -action_cost}
