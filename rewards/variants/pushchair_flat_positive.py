"""The flat PushChair program with the sign turned: a constant +17 per step while the chair
lies, no shape at all.

Written by hand for a diagnostic (`benchmarks/results/pushchair_cpu.md`, session 44), not a
program to recover with. `pushchair_flat.py` (-17) held PPO behind the zero baseline. If this
one holds it back as well, what matters is the size of a level (how PPO fits and normalises
it); if it does not, it is the sign (what the level pays the agent to do). Lying on still pays
far less than pushing the upright chair (3-7 per step unscaled, against +0.17 after λ), so the
task's incentive to get up stays. Same recovered test as the reference program.
"""
import numpy as np

NEAR = 0.1  # m: the hands are at the chair
UPRIGHT = 0.1  # rad


def is_recovered(state):
    ee_distance, tilt = state[0], state[2]
    return int(ee_distance < NEAR and abs(tilt) < UPRIGHT)


def calculate_reward(state, action):
    level = 17.0 + 0.0 * np.sum(action)
    return level, {"level": level}
