"""The recovery objectives: how each method shapes the reward and what it adds to the actor
loss, as hooks for the PPO learner (`reward_fn`, `extra_policy_loss`).

    lamour  r = r_env + λ·1[switch]·calculate_reward(s', a)      switch: r_env == 0 (released
            L += −c·1[is_recovered(s)]·log π_θ(ũ|s)                code) or not is_recovered(s')
    zero    r = r_env (masked: 0 while invalid); nothing added
    env     r = the unmasked task reward; nothing added
    sero    r = r_env + λ·1[r_env == 0]·(−U(s'));  L += −c·(1 − U(s))·log π_θ(ũ|s)

With `hold` = K > 0 LaMOuR's consolidation acts only on states that have stayed valid K steps
since getting up (an episode that starts valid never got up and is not held back): the steps
that follow getting up are left to the RL signal, so the agent can learn the hand-off into the
task instead of being pulled to the original's actions where those fall again
(consolidation_hold_cpu.md). SeRO keeps its own gate, 1 − U(s), on every state: a validity
gate on top would drop its consolidation on every fallen state, which is most of what anchors
it (its retention fell from 67 % to 6 % on the hopper when it had one).

With `shaping` = "centred" the program's mean over the OOD starts (zero action), R̄, is
subtracted: λ·(R(s', a) − R̄). The program keeps its shape and its per-step strength, and a
state as bad as the start pays about nothing instead of the level that the code stage's rule
"always negative" gives every program (about −20 per step for PushChair's).

With `shaping` = "potential" the program's output is read as a potential Φ(s) = R(s, a)
instead of a reward (Ng, Harada and Russell, 1999): the term becomes λ·(γ·R(s', a) − R(s, a)).
Over a stretch of steps spent down its terms telescope to λ·(γ^n·R(s_n) − R(s_0)), and a state
the agent stays in pays λ·(1 − γ)·(−R(s)): the program's level, scaled down by 1 − γ and with
its sign turned. Were the step that gets up paid −λ·R(s_n) too, the optimal policy and the true
advantages would be those without the program (only what the critic must learn first would
change); it is not (the switch is off once up), so the program still pays λ·γ^n·R(s_n) for
where the agent got up from. Measured in shaping_cpu.md: on the walker2d the level is what
gets it up (both options leave it down); on PushChair the level holds PPO back.

ũ is one pre-tanh sample of the frozen original policy at s. U is SeRO's uncertainty: the
per-feature variance of the original actor's mean under MC dropout, divided by the largest
variance recorded during original training, combined as Σṽ²/Σṽ and clipped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from lamour_jax.learner.networks import PolicyFns, gaussian_log_prob
from lamour_jax.learner.normalizer import RunningStats
from lamour_jax.learner.policy import LoadedPolicy
from lamour_jax.learner.ppo import SERO_SAMPLES
from lamour_jax.learner.types import ExtraLossFn, RewardFn, Transition
from lamour_jax.params import SHAPINGS, SWITCHES
from lamour_jax.transpile import CandidateSet

METHODS = ("lamour", "zero", "env", "sero")
# OOD starts the "centred" shaping averages a program over (drawn once, from a fixed key).
LEVEL_STARTS = 256

@dataclass(frozen=True)
class Original:
    """The frozen original policy: what consolidation clones and SeRO measures."""

    fns: PolicyFns
    actor: Any
    obs_stats: RunningStats
    dropout_var_max: jax.Array

    @classmethod
    def from_policy(cls, policy: LoadedPolicy, index: int = 0) -> Original:
        """Seed `index` of a loaded run, frozen."""
        chosen = policy.member(index)
        return cls(policy.fns, chosen["actor"], chosen["obs_stats"], chosen["dropout_var_max"])

    def sample_u(self, obs: jax.Array, key: jax.Array) -> jax.Array:
        mean, std = self.fns.distribution(self.actor, self.obs_stats, obs)
        return jax.lax.stop_gradient(mean + std * jax.random.normal(key, mean.shape))

    def dropout_variance(self, obs: jax.Array) -> jax.Array:
        """Per-feature variance of the action mean over SeRO's MC-dropout masks.

        The masks come from a fixed key: the same 30 masks for every state, which keeps the
        reward a deterministic function of the state, as an ensemble would be."""
        keys = jax.random.split(jax.random.key(20230), SERO_SAMPLES)
        means = jax.vmap(lambda k: self.fns.distribution(self.actor, self.obs_stats, obs,
                                                         k)[0])(keys)
        return jnp.var(means, axis=0)

    def uncertainty(self, obs: jax.Array) -> jax.Array:
        """SeRO's U(s) in [0, 1] for one observation or a batch."""
        scaled = self.dropout_variance(obs) / jnp.maximum(self.dropout_var_max, 1e-8)
        u = jnp.sum(jnp.square(scaled), -1) / jnp.maximum(jnp.sum(scaled, -1), 1e-8)
        return jnp.clip(u, 0.0, 1.0)


def program_levels(candidates: CandidateSet, starts: jax.Array, action_size: int
                   ) -> jax.Array:
    """Each candidate's mean output over the observations `starts` [n, obs] with a zero
    action: the level "centred" shaping takes off. A program that is not finite on some
    start counts that start as 0, as the reward does."""
    action = jnp.zeros(action_size)

    def level(index: int) -> jax.Array:
        rewards = jax.vmap(lambda o: candidates.calculate_reward(index, o, action))(starts)
        return jnp.mean(_finite(rewards))

    return jnp.stack([level(i) for i in range(len(candidates))])


def recovered_shares(candidates: CandidateSet, obs: jax.Array, counted: jax.Array
                     ) -> jax.Array:
    """Each candidate's share of the observations `obs` [n, obs] (those where `counted` is
    true) on which its `is_recovered` holds: where LaMOuR's consolidation can act."""
    def share(index: int) -> jax.Array:
        held = jax.vmap(lambda o: candidates.is_recovered(index, o))(obs) > 0
        return jnp.sum(held & counted) / jnp.maximum(jnp.sum(counted), 1)

    return jnp.stack([share(i) for i in range(len(candidates))])


def _finite(x: jax.Array) -> jax.Array:
    # A generated program may return NaN/inf on some state; one such value would poison the
    # whole batch's advantages, so it counts as no shaping for that transition.
    return jnp.where(jnp.isfinite(x), x, 0.0)


@dataclass(frozen=True)
class Objective:
    method: str
    lam: float
    c: float
    switch: str = "valid"
    candidates: CandidateSet | None = None
    original: Original | None = None
    seeds: int = 1  # seeds per candidate: member = candidate * seeds + seed
    hold: int = 0  # lamour: consolidate only this many valid steps after getting up
    shaping: str = "reward"  # lamour: the program's output as a reward, centred, or a potential
    gamma: float = 0.99  # the learner's discount: the potential's
    levels: jax.Array | None = None  # "centred": each candidate's R̄ (program_levels)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")
        if self.switch not in SWITCHES:
            raise ValueError(f"switch must be one of {', '.join(SWITCHES)}")
        if self.shaping not in SHAPINGS:
            raise ValueError(f"shaping must be one of {', '.join(SHAPINGS)}")
        if self.method == "lamour" and self.shaping == "centred" and self.levels is None:
            raise ValueError("centred shaping needs the programs' levels (program_levels)")
        if self.hold < 0:
            raise ValueError(f"hold must be >= 0 steps, got {self.hold}")
        if self.method == "lamour" and self.candidates is None:
            raise ValueError("lamour needs reward candidates")
        if self.method in ("lamour", "sero") and self.original is None:
            raise ValueError(f"{self.method} needs the original policy")
        if self.method == "sero" and self.original.fns.actor.dropout <= 0:
            raise ValueError("sero needs an original policy trained with dropout "
                             "(`lamour train ENV --set policy_dropout=0.1`)")

    def _candidate(self, member: jax.Array) -> jax.Array:
        return member // self.seeds

    def reward_fn(self) -> RewardFn | None:
        if self.method == "zero":
            return None
        if self.method == "env":
            return lambda obs, action, next_obs, info: info["original_reward"]
        lam = self.lam

        def lamour(obs: jax.Array, action: jax.Array, next_obs: jax.Array, info: dict
                   ) -> jax.Array:
            r_env = info["env_reward"]
            index = self._candidate(info["member"])
            aux = self.candidates.calculate_reward(index, next_obs, action)
            if self.shaping == "potential":
                # The same action on both sides: a term of the program in the action alone
                # (a control cost) cancels rather than turning into a level of its own.
                aux = self.gamma * aux - self.candidates.calculate_reward(index, obs, action)
            elif self.shaping == "centred":
                aux = aux - self.levels[index]
            aux = _finite(aux)
            if self.switch == "valid":
                recovering = r_env == 0.0
            else:
                recovering = self.candidates.is_recovered(index, next_obs) == 0
            return r_env + lam * jnp.where(recovering, aux, 0.0)

        def sero(obs: jax.Array, action: jax.Array, next_obs: jax.Array, info: dict
                 ) -> jax.Array:
            r_env = info["env_reward"]
            return r_env - lam * jnp.where(r_env == 0.0, self.original.uncertainty(next_obs),
                                           0.0)

        return lamour if self.method == "lamour" else sero

    def extra_policy_loss(self) -> ExtraLossFn | None:
        if self.method not in ("lamour", "sero") or self.c == 0.0:
            return None
        c = self.c

        def consolidation(mean: jax.Array, std: jax.Array, batch: Transition, key: jax.Array,
                          member: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
            u_tilde = self.original.sample_u(batch.obs, key)
            log_prob = gaussian_log_prob(u_tilde, mean, std)
            if self.method == "lamour":
                index = self._candidate(member)
                weight = jax.vmap(lambda s: self.candidates.is_recovered(index, s))(batch.obs)
                weight = weight.astype(jnp.float32)
                if self.hold > 0:
                    weight = weight * (batch.steps_up >= self.hold)
            else:
                weight = 1.0 - self.original.uncertainty(batch.obs)
            loss = -c * jnp.mean(weight * log_prob)
            return loss, {"consolidation_loss": loss, "consolidation_weight": jnp.mean(weight)}

        return consolidation


__all__ = ["LEVEL_STARTS", "METHODS", "SHAPINGS", "SWITCHES", "Objective", "Original",
           "program_levels"]

