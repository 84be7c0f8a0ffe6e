"""A PushChair recovery program with no shape at all: a constant -17 per step while the chair
lies, the lifting program's mean on OOD states.

Written by hand for a diagnostic (`benchmarks/results/pushchair_cpu.md`, session 43), not a
program to recover with. Against the zero baseline (no reward while the chair lies) it tells
whether a recovery program's level alone, rather than its shape, changes how often PPO gets
the chair up. Same recovered test as the reference program.
"""
import numpy as np

NEAR = 0.1  # m: the hands are at the chair
UPRIGHT = 0.1  # rad


def is_recovered(state):
    ee_distance, tilt = state[0], state[2]
    return int(ee_distance < NEAR and abs(tilt) < UPRIGHT)


def calculate_reward(state, action):
    level = -17.0 + 0.0 * np.sum(action)
    return level, {"level": level}
