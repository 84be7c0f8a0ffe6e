"""LaMOuR out-of-distribution recovery on MuJoCo-MJX.

Import map: the repository folders `envs/` and `rewards/` install as `lamour_jax.envs` and
`lamour_jax.rewards`; everything else lives under `lamour_jax/`.
"""

import os

# MuJoCo picks its OpenGL backend when it is first imported. Default to headless EGL (works on
# CPU machines with Mesa and on GPU nodes with NVIDIA drivers); a user's own choice wins.
os.environ.setdefault("MUJOCO_GL", "egl")

__version__ = "0.1.0"
