"""The shipped original policies load from the installed package and act."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from lamour_jax.envs import make
from lamour_jax.learner.policy import load
from lamour_jax.policies import DROPOUT_SUFFIX, shipped_policies, shipped_policy


@pytest.mark.parametrize("folder", shipped_policies())
def test_shipped_policy_loads_and_acts(folder):
    env_name = folder.removesuffix(DROPOUT_SUFFIX)
    dropout = folder != env_name
    policy = load(shipped_policy(env_name, dropout=dropout))
    assert policy.meta["env"] == env_name and policy.meta["variant"] == "normal"
    # A SeRO-ready original has dropout and the variance maxima SeRO normalises by.
    assert (policy.meta["policy_dropout"] > 0) == dropout
    assert bool(jnp.all(policy.dropout_var_max > 0)) == dropout
    env = make(env_name)
    states = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 4))
    actions = jax.vmap(policy.act_fn(0))(states.obs)
    assert actions.shape == (4, env.action_size)
    assert bool(jnp.all(jnp.abs(actions) <= 1.0))


def test_no_shipped_policy_is_none():
    assert shipped_policy("pointmass") is None
    assert shipped_policy("pointmass", dropout=True) is None
