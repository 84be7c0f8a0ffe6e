"""The reference HalfCheetah program with an is_recovered that the running cheetah passes.

Written by hand for a diagnostic (`benchmarks/results/consolidation_coverage_native_cpu.md`,
session 49), not model output. The paper's test (|height offset| < 0.1 and |pitch| < 0.1)
holds on only 25-32 % of the shipped originals' own steps from Normal starts: a running
cheetah's torso bobs 0.08 m and pitches 0.1 rad at the median. Consolidation acts only where
is_recovered holds, so on three quarters of the task's states nothing keeps the recovered
policy near the original. Here both limits are 0.3, which holds on 98 % of those steps; the
reward is the reference's unchanged (the switch to the task reward follows the env's own
validity test, so is_recovered gates consolidation only).
"""
import numpy as np

LIMIT = 0.3  # m and rad


def is_recovered(state):
    height_offset, pitch = state[0], state[1]
    return int(abs(height_offset) < LIMIT and abs(pitch) < LIMIT)


def calculate_reward(state, action):
    if not np.isfinite(state[0]) or not np.isfinite(state[1]):
        return -10.0
    upright_cost = abs(state[1])
    height_cost = abs(state[0])
    action_cost = 0.1 * np.sum(action ** 2) / action.shape[0]
    return -(upright_cost + height_cost) - action_cost - 0.01
