"""The shipped original policies load from the installed package and act."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from lamour_jax.envs import make
from lamour_jax.learner.policy import load
from lamour_jax.policies import shipped_envs, shipped_policy


@pytest.mark.parametrize("env_name", shipped_envs())
def test_shipped_policy_loads_and_acts(env_name):
    policy = load(shipped_policy(env_name))
    assert policy.meta["env"] == env_name and policy.meta["variant"] == "normal"
    env = make(env_name)
    states = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 4))
    actions = jax.vmap(policy.act_fn(0))(states.obs)
    assert actions.shape == (4, env.action_size)
    assert bool(jnp.all(jnp.abs(actions) <= 1.0))


def test_no_shipped_policy_is_none():
    assert shipped_policy("pointmass") is None
