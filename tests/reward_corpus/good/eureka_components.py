# dims: 17 6
from typing import Dict, Tuple

import numpy as np


def is_recovered(state: np.ndarray) -> int:
    return int(abs(state[0]) < 0.1 and abs(state[1]) < 0.1)


def calculate_reward(state: np.ndarray, action: np.ndarray) -> Tuple[float, Dict[str, float]]:
    height_temp: float = 2.0
    height_penalty = -np.abs(state[0])
    pitch_penalty = -np.abs(state[1])
    if state[1] < -2.0:
        return -3.0, {"height": height_penalty, "pitch": pitch_penalty, "flipped": -1.0}
    shaped = np.exp(height_temp * height_penalty) - 1.0
    control = -0.1 * np.sum(action ** 2) / 6.0
    total = pitch_penalty + shaped + control
    return total, {"height": shaped, "pitch": pitch_penalty, "control": control}
