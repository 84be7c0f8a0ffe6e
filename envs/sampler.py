"""OOD-state sampler: pure `sample(key, n) -> (qpos, qvel)` per robot and mode.

Modes
  paper    the paper's OOD pose plus its reset noise (spec §2).
  diverse  fallen states over a broad distribution: random orientation / pitch and joint angles,
           lifted clear of the floor, dropped and settled by a short passive simulation so they
           rest on the ground, kept only where the env's own validity test fails. Candidates are
           oversampled; should too few fail the test, the rest are paper-mode states, so every
           returned state is invalid (checked in tests).

Both are deterministic for a key, jit-able, and vmap over n internally.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp

from lamour_jax.envs import MODES
from lamour_jax.envs.base import Robot
from lamour_jax.envs.native import field

Mode = Literal["paper", "diverse"]
# Lowest point of every body geom (its bounding sphere) sits this far above the floor
# before the drop: close enough to land within the settle time, far enough not to start
# in penetration (which MJX resolves with a violent push).
DROP_CLEARANCE = 0.05


class OODSampler:
    def __init__(self, robot: Robot, mode: Mode = "paper", oversample: int = 3) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown OOD mode {mode!r}; choose one of {', '.join(MODES)}")
        self.robot = robot
        self.mode = mode
        self.oversample = int(oversample)
        self.settle_steps = max(1, round(robot.settle_seconds / robot.dt))

    def sample(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """n OOD states as (qpos (n, nq), qvel (n, nv)). `n` must be static."""
        if self.mode == "paper":
            return jax.vmap(self.robot.ood_paper_state)(jax.random.split(key, n))
        return self._diverse(key, n)

    def sample_one(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        qpos, qvel = self.sample(key, 1)
        return qpos[0], qvel[0]

    # ----- diverse mode
    def _lift_clear_of_floor(self, qpos: jax.Array, qvel: jax.Array) -> jax.Array:
        robot = self.robot
        data = robot.make_data(qpos, qvel)
        radius = jnp.asarray(robot.mj_model.geom_rbound)
        is_body = jnp.asarray(robot.mj_model.geom_bodyid) > 0  # world geoms are the floor
        lowest = jnp.min(jnp.where(is_body, field(data, "geom_xpos")[:, 2] - radius, jnp.inf))
        return qpos.at[robot.height_index].add(DROP_CLEARANCE - lowest)

    def _settle(self, qpos: jax.Array, qvel: jax.Array) -> tuple[jax.Array, jax.Array]:
        robot = self.robot
        data = robot.make_data(qpos, qvel)
        zero_action = jnp.zeros(robot.action_size)

        def passive(d: object, _: None) -> tuple[object, None]:
            return robot.physics_step(d, zero_action), None

        data, _ = jax.lax.scan(passive, data, None, length=self.settle_steps)
        return data.qpos, data.qvel

    def _diverse(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        robot = self.robot
        k_cand, k_fallback = jax.random.split(key)
        m = n * self.oversample
        qpos, qvel = jax.vmap(robot.ood_diverse_candidate)(jax.random.split(k_cand, m))
        qpos = jax.vmap(self._lift_clear_of_floor)(qpos, qvel)
        qpos, qvel = jax.vmap(self._settle)(qpos, qvel)

        finite = jnp.all(jnp.isfinite(qpos), -1) & jnp.all(jnp.isfinite(qvel), -1)
        keep = finite & ~jax.vmap(robot.is_valid)(qpos, qvel)
        order = jnp.argsort(~keep, stable=True)[:n]  # kept candidates first, in draw order
        fallback_qpos, fallback_qvel = jax.vmap(robot.ood_paper_state)(
            jax.random.split(k_fallback, n))
        use_candidate = (jnp.arange(n) < jnp.sum(keep))[:, None]
        return (jnp.where(use_candidate, qpos[order], fallback_qpos),
                jnp.where(use_candidate, qvel[order], fallback_qvel))


def mixed_resets(base: Callable[[jax.Array], tuple[jax.Array, jax.Array]],
                 other: Callable[[jax.Array], tuple[jax.Array, jax.Array]],
                 share: float) -> Callable[[jax.Array], tuple[jax.Array, jax.Array]]:
    """Reset function drawing from `other` with probability `share`, else from `base`.

    Retraining mixes its starts this way twice. Normal-env starts: on OOD starts alone no
    upright state is seen until the policy first gets up, so the fresh critic has never
    valued one and consolidation (gated on recovered states) has nothing to hold the task
    behaviour to. A share of episodes, not a fixed share of the batch's envs: while the policy
    still falls, Normal-start episodes end within steps and the anchor stays weak, which
    leaves room to learn getting up; fixed Normal-start envs held the task but got up far
    less often (diverse_starts_cpu.md). Diverse fallen starts: a policy trained on the
    paper's one pose (plus noise) does not get up from other falls (22-34 % on the walker2d's
    diverse set)."""

    def reset_fn(key: jax.Array) -> tuple[jax.Array, jax.Array]:
        k_pick, k_base, k_other = jax.random.split(key, 3)
        take_other = jax.random.uniform(k_pick) < share
        return jax.tree.map(lambda o, b: jnp.where(take_other, o, b),
                            other(k_other), base(k_base))

    return reset_fn


def bank_reset_fn(qpos_bank: jax.Array, qvel_bank: jax.Array
                  ) -> Callable[[jax.Array], tuple[jax.Array, jax.Array]]:
    """Reset function drawing a uniformly random entry of a pre-sampled bank of OOD states.

    Settling costs about a second of simulated time per state, too much to pay on every
    episode end inside a training step; a bank of thousands of settled states, redrawn per
    episode, keeps the diversity at the cost of one gather.
    """
    size = qpos_bank.shape[0]

    def reset_fn(key: jax.Array) -> tuple[jax.Array, jax.Array]:
        i = jax.random.randint(key, (), 0, size)
        return qpos_bank[i], qvel_bank[i]

    return reset_fn
