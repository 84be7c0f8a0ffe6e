"""The shipped original policies load from the installed package and act; the shipped recovered
ones do what they were shipped for."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from lamour_jax.envs import make
from lamour_jax.learner.evaluate import evaluate_policy
from lamour_jax.learner.policy import load
from lamour_jax.params import DEMOS, recovery_ppo
from lamour_jax.policies import DROPOUT_SUFFIX, shipped_policies, shipped_policy, shipped_recovered


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
    assert shipped_recovered("pointmass") is None


def test_the_shipped_recovered_humanoid_gets_up_where_its_original_lies():
    """The humanoid's demo shows this policy beside its short retraining: from the paper's
    OOD start (on its back) it must stand up (root z > 1) on the C engine it was trained on,
    where the original it was retrained from never does."""
    assert "humanoid" in DEMOS
    recovered = load(shipped_recovered("humanoid"))
    assert recovered.meta["variant"] == "ood" and recovered.meta["recovered_with"] == "lamour"
    episodes = 4
    up = evaluate_policy("humanoid", "ood", "paper", recovered.act_fn(0), episodes, 1, 200,
                         "native")
    assert up["recovery_rate"] >= 0.75, up
    original = load(shipped_policy("humanoid"))
    lies = evaluate_policy("humanoid", "ood", "paper", original.act_fn(0), episodes, 1, 200,
                           "native")
    assert lies["recovery_rate"] == 0.0


@pytest.mark.parametrize("dropout", [False, True], ids=["pushchair", "pushchair-dropout"])
def test_pushchair_recovery_clip_keeps_the_original_unsaturated_on_the_lying_chair(dropout):
    """The lying chair's tilt inputs sit 10-17 floored stds out of the original's Normal
    statistics. At the recovery's input clip the original must still act inside tanh's
    range there (and start from a moderate std): saturated, a tiny weight change moves its output
    so much that the KL-adaptive rate sits at its floor and nothing is learned
    (benchmarks/results/pushchair_cpu.md: median |mean| 3.8 at a clip of 100)."""
    policy = load(shipped_policy("pushchair", dropout=dropout))
    env = make("pushchair", "ood")
    states = jax.vmap(env.reset)(jax.random.split(jax.random.key(1), 32))
    ppo = recovery_ppo("pushchair")
    mean, std = policy.distribution(states.obs, obs_clip=ppo.obs_clip)
    assert float(jnp.median(jnp.abs(mean))) < 2.0
    # The std the recovery starts from: its init_std where it resets the std head, else the
    # original's own there.
    assert (ppo.init_std if ppo.init_std > 0 else float(jnp.mean(std))) < 1.0
