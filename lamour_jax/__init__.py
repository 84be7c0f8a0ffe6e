"""LaMOuR out-of-distribution recovery on MuJoCo-MJX.

Import map: the repository folders `envs/` and `rewards/` install as `lamour_jax.envs` and
`lamour_jax.rewards`; everything else lives under `lamour_jax/`.
"""

import os

# MuJoCo picks its OpenGL backend when it is first imported. Default to headless EGL (works on
# CPU machines with Mesa and on GPU nodes with NVIDIA drivers); a user's own choice wins.
os.environ.setdefault("MUJOCO_GL", "egl")

# Before jax starts a backend: the XLA:CPU setting without which the ant's large programs
# deadlock (see xla_runtime.py). Imports nothing heavy.
from lamour_jax.xla_runtime import avoid_cpu_deadlock  # noqa: E402

avoid_cpu_deadlock()

__version__ = "0.1.0"
