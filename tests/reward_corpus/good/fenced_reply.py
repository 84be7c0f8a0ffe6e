# dims: 11 3
Sure! Based on the behaviour "push off the ground and swing the torso upright", here is
the reward function:

```python
import numpy as np

def is_recovered(state):
    z, angle = state[0:2]
    return int(z > 0.7 and abs(angle) < np.pi / 6)

def calculate_reward(state, action):
    z, angle = state[0:2]
    reward = -(max(0, 0.7 - z) + max(0, abs(angle) - np.pi / 6))
    reward -= 0.1 * np.sum(np.square(action))
    return reward
```

This reward is always negative and increases as the hopper stands up.
