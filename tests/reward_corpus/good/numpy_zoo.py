# dims: 111 8
import numpy as np


def is_recovered(state):
    q = np.asarray(state[1:5])
    w, x, y, z = q / np.linalg.norm(q)
    up_z = 1.0 - 2.0 * (x ** 2 + y ** 2)
    return np.logical_and(state[0] > 0.25, up_z > np.cos(np.radians(30.0)))


def calculate_reward(state, action):
    state = np.nan_to_num(state, nan=0.0, posinf=1.0, neginf=-1.0)
    q = state[1:5]
    q = q / (np.linalg.norm(q) + 1e-8)
    w, x, y, z = q
    roll = np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2 * (w * y - z * x), -1.0, 1.0))
    tilt = np.arccos(np.clip(1.0 - 2.0 * (x ** 2 + y ** 2), -1, 1))
    forces = state[27:111].reshape(14, 6)
    contact = np.mean(np.linalg.norm(forces, axis=1))
    joints = np.array([state[5], state[7], state[9], state[11]])
    spread = np.dot(joints, joints) + np.sum(np.abs(np.sign(joints)))
    height_term = np.minimum(state[0] - 0.5, 0.0) + np.maximum(-1.0, -np.exp(-state[0]))
    log_term = -np.log(1.0 + np.sqrt(np.square(roll) + np.square(pitch)))
    clipped = np.where(tilt > np.pi / 2, -1.0, -tilt / np.pi)
    finite = np.all(np.isfinite(action)) and not np.any(np.abs(action) > 10)
    act = -0.1 * np.sum(np.square(action)) / action.shape[0] if finite else -1.0
    return float(height_term + log_term + clipped - 0.001 * contact - 0.001 * spread + act
                 - np.pi * 0.0 + np.mean(np.abs(action)) * -0.01)
