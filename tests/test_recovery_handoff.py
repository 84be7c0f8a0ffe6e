"""benchmarks/recovery_handoff.py's episode trace on the point mass: a policy that gets up and
one that hands over to a policy that walks away must be told apart, and the fall must be laid
to the validity condition that failed."""

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lamour_jax.envs import make

_SCRIPT = Path(__file__).parents[1] / "benchmarks" / "recovery_handoff.py"
_spec = importlib.util.spec_from_file_location("recovery_handoff", _SCRIPT)
handoff = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(handoff)


def to_target(obs):  # drives the mass to the origin and holds it there (damped)
    return jnp.clip(-2.0 * obs[..., :2] - 0.5 * obs[..., 2:], -1.0, 1.0)


def away(obs):  # drives it straight out of the valid disc
    return jnp.clip(10.0 * obs[..., :2], -1.0, 1.0)


def test_hand_off_to_a_policy_that_leaves_is_a_fall_on_the_named_condition():
    env = make("pointmass", "ood", "paper", episode_length=200, physics="mjx")
    run = jax.jit(lambda hand_off: handoff.handoff_episodes(
        env, to_target, away, jax.random.key(0), 8, hand_off), static_argnums=0)
    stays, leaves = (handoff.summary(run(h)) for h in (False, True))
    assert stays["got_up"] == 1.0 and stays["fell_again"] == 0.0
    assert all(share is None for share in stays["fell_on"].values())  # no fall to explain
    assert leaves["got_up"] == 1.0 and leaves["fell_again"] == 1.0
    assert leaves["fell_on"] == {"|position| < 1": 1.0, "diverged": 0.0}
    np.testing.assert_array_less(0, leaves["steps_up_before_falling_median"])
