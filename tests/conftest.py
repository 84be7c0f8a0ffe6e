import functools

import fast_compile  # noqa: F401  (sets XLA_FLAGS before jax starts: keep it first)
import pytest

from lamour_jax import xla_cache
from lamour_jax.envs import make

# Much of the suite's time is XLA compiling MJX programs (single-threaded, 10-60 s each): a
# persistent cache outside the checkout makes re-runs on the same machine fast; a fresh
# machine simply compiles. (Programs on the C engine, the CPU's default, compile in seconds
# and are not cached: XLA does not keep programs with host callbacks.)
xla_cache.enable()


@functools.cache
def cached_env(name: str, variant: str = "normal", mode: str = "paper", **kwargs):
    """One Env object per configuration, so jitted functions keyed on it compile once."""
    return make(name, variant, mode, **kwargs)


@pytest.fixture
def env_factory():
    return cached_env
