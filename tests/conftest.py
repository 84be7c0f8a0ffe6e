import functools

import pytest
from lamour_jax.envs import make


@functools.cache
def cached_env(name: str, variant: str = "normal", mode: str = "paper", **kwargs):
    """One Env object per configuration, so jitted functions keyed on it compile once."""
    return make(name, variant, mode, **kwargs)


@pytest.fixture
def env_factory():
    return cached_env
