"""Soft actor-critic on the same batched envs as PPO: `learner=sac` in the config.

    trainer = make_train(env, config.replace(learner="sac", lr_schedule="constant"))

An iteration is PPO's rollout (`num_envs` x `unroll_length` steps of the stochastic policy,
the recovery's reward hook applied), written into a replay buffer that lives in the training
state, then `sac_updates` gradient steps on minibatches drawn from everything the buffer
holds: twin critics toward r + γ (min Q_target(s', a') − α log π(a'|s')), the actor toward
α log π(a|s) − min Q(s, a) plus the recovery's extra loss (consolidation), and the temperature
α toward a target entropy (one α for every state, or, with `sac_temperatures=by_validity`,
one for fallen states and one for states that pass the env's validity test). Everything
else (initialisation from an original actor, critic warm-up, evaluation, retention,
checkpoints, seeds as a vmap) is the PPO trainer's.

Why it is here: PPO with 256 envs did not get the humanoid up from its back in 2-4M steps
(benchmarks/results/recovery_humanoid_native_cpu.md); the paper retrains with SAC, which
reuses every transition many times.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from lamour_jax.learner.config import PPOConfig
from lamour_jax.learner.networks import TwinQ, squashed_log_prob
from lamour_jax.learner.normalizer import RunningStats
from lamour_jax.learner.ppo import Trainer, tree_finite
from lamour_jax.learner.types import TrainState, Transition


@struct.dataclass
class Replay:
    """A ring buffer of transitions, one row per env step."""

    data: Transition  # every leaf [capacity, ...]
    position: jax.Array  # the row the next rollout starts at
    size: jax.Array  # rows written so far, up to capacity

    @classmethod
    def empty(cls, capacity: int, like: Transition) -> Replay:
        data = jax.tree.map(lambda x: jnp.zeros((capacity, *x.shape[1:]), x.dtype), like)
        return cls(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

    def add(self, rows: Transition) -> Replay:
        """`rows` (a leading axis that divides the capacity, so it never wraps mid-write)."""
        n = jax.tree.leaves(rows)[0].shape[0]
        capacity = jax.tree.leaves(self.data)[0].shape[0]
        data = jax.tree.map(
            lambda buf, new: jax.lax.dynamic_update_slice_in_dim(buf, new, self.position, 0),
            self.data, rows)
        return Replay(data, (self.position + n) % capacity,
                      jnp.minimum(self.size + n, capacity))

    def sample(self, key: jax.Array, batch_size: int) -> Transition:
        rows = jax.random.randint(key, (batch_size,), 0, jnp.maximum(self.size, 1))
        return jax.tree.map(lambda x: x[rows], self.data)


class SACTrainer(Trainer):
    """The pure functions of one SAC configuration (see the module docstring)."""

    @property
    def q(self) -> TwinQ:
        """The twin critics (a flax module: a description, cheap to build when traced)."""
        return TwinQ(self.config.value_hidden, self.config.activation)

    def _optimizers(self, hp: PPOConfig) -> dict[str, optax.GradientTransformation]:
        cfg = self.config
        rate: Any = hp.learning_rate
        if cfg.lr_schedule == "linear":
            rate = optax.linear_schedule(hp.learning_rate, 0.0,
                                         max(1, cfg.num_iterations * cfg.sac_updates))
        return {"actor": optax.adam(rate), "critic": optax.adam(rate),
                "log_alpha": optax.adam(rate)}

    def init(self, key: jax.Array, hp: PPOConfig | None = None, member: Any = 0
             ) -> TrainState:
        hp = hp or self.config
        k_actor, k_critic, k_env, k_state = jax.random.split(key, 4)
        actor_params, stats = self._initial_actor(k_actor)
        critic = self.q.init(k_critic, jnp.zeros((self.env.observation_size,)),
                             jnp.zeros((self.env.action_size,)))
        log_alpha = jnp.full((self._temperatures,), jnp.log(hp.init_alpha), jnp.float32)
        params = {"actor": actor_params, "critic": critic, "target_critic": critic,
                  "log_alpha": log_alpha if self._temperatures > 1 else log_alpha[0]}
        opt_state = {name: opt.init(params[name])
                     for name, opt in self._optimizers(hp).items()}
        state = self._fresh_state(params, opt_state, stats, k_env, k_state, member)
        return state.replace(replay=Replay.empty(self.config.replay_capacity,
                                                 self._row_like(state)))

    def _row_like(self, state: TrainState) -> Transition:
        """One buffer row's shapes and dtypes (a leading axis of 1), read off what a rollout
        from `state` returns (traced for shapes only), so the buffer follows Transition."""
        traj = jax.eval_shape(lambda s, k: self._rollout(s, k)[2], state, state.key)
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct((1, *x.shape[2:]), x.dtype), traj)

    # ----- temperatures: one, or [fallen, valid] by the env's validity test of the state
    @property
    def _temperatures(self) -> int:
        return 2 if self.config.sac_temperatures == "by_validity" else 1

    def _temperature_of(self, valid: jax.Array) -> jax.Array:
        """Which temperature each row answers to, given its state's validity (bool, [rows])."""
        return valid.astype(jnp.int32) if self._temperatures > 1 else jnp.zeros_like(valid, int)

    def _alpha(self, params: dict, valid: jax.Array) -> jax.Array:
        """α at each row whose state's validity is `valid` (bool, [rows])."""
        return jnp.exp(params["log_alpha"]).reshape(-1)[self._temperature_of(valid)]

    def _targets(self, hp: PPOConfig) -> jax.Array:
        per_dim = [hp.target_entropy, hp.target_entropy_valid][:self._temperatures]
        return jnp.asarray(per_dim, jnp.float32) * self.env.action_size

    # ----- losses (one minibatch; `stats` the actor's inputs, `critic_stats` the critics')
    def _sample_action(self, actor_params: Any, stats: RunningStats, obs: jax.Array,
                       key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        mean, std = self.policy.distribution(actor_params, stats, obs)
        u = mean + std * jax.random.normal(key, mean.shape)
        return jnp.tanh(u), squashed_log_prob(u, mean, std), mean, std

    def _q(self, critic: Any, critic_stats: RunningStats, obs: jax.Array, action: jax.Array
           ) -> jax.Array:
        norm = critic_stats.normalize(obs, self.config.normalize_observations)
        return self.q.apply(critic, norm, action)

    def _critic_loss(self, critic: Any, params: dict, stats: RunningStats,
                     critic_stats: RunningStats, batch: Transition, key: jax.Array,
                     hp: PPOConfig) -> tuple[jax.Array, dict[str, jax.Array]]:
        alpha = self._alpha(params, batch.valid > 0.5)  # the next state's
        next_action, next_log_prob, _, _ = self._sample_action(params["actor"], stats,
                                                               batch.next_obs, key)
        next_q = jnp.min(self._q(params["target_critic"], critic_stats, batch.next_obs,
                                 next_action), axis=0)
        target = batch.reward * hp.reward_scaling + hp.gamma * (1.0 - batch.termination) * (
            next_q - alpha * next_log_prob)
        q = self._q(critic, critic_stats, batch.obs, jnp.tanh(batch.u))
        loss = 0.5 * jnp.mean(jnp.sum(jnp.square(q - jax.lax.stop_gradient(target)), axis=0))
        return loss, {"critic_loss": loss, "q_mean": jnp.mean(q)}

    def _actor_loss(self, actor_params: Any, params: dict, stats: RunningStats,
                    critic_stats: RunningStats, batch: Transition, key: jax.Array,
                    member: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        k_action, k_extra = jax.random.split(key)
        valid = batch.steps_up > 0  # `obs` passed the validity test
        action, log_prob, mean, std = self._sample_action(actor_params, stats, batch.obs,
                                                          k_action)
        q = jnp.min(self._q(params["critic"], critic_stats, batch.obs, action), axis=0)
        loss = jnp.mean(self._alpha(params, valid) * log_prob - q)
        # The entropy each temperature answers to: the mean over its own rows (0 for a
        # temperature with none in this minibatch; the update skips it).
        groups = jax.nn.one_hot(self._temperature_of(valid), self._temperatures)
        rows = jnp.sum(groups, axis=0)
        group_entropy = -(jax.lax.stop_gradient(log_prob) @ groups) / jnp.maximum(rows, 1.0)
        metrics = {"actor_loss": loss, "entropy": -jnp.mean(log_prob),
                   "group_entropy": group_entropy, "group_rows": rows}
        if self.extra_policy_loss is not None:
            extra, extra_metrics = self.extra_policy_loss(mean, std, batch, k_extra, member)
            loss = loss + extra
            metrics.update({"extra_loss": extra, **extra_metrics})
        return loss, metrics

    def _update(self, params: dict, opt_state: dict, stats: RunningStats,
                critic_stats: RunningStats, batch: Transition, key: jax.Array, hp: PPOConfig,
                actor_learns: jax.Array, member: jax.Array) -> tuple[dict, dict, dict]:
        """One gradient step of the critics, then the actor and the temperature (held back,
        like PPO's actor, while the critics warm up), then the targets' soft update."""
        optimizers = self._optimizers(hp)
        k_critic, k_actor = jax.random.split(key)

        def step(name: str, grads: Any, scale: jax.Array | float = 1.0) -> None:
            updates, opt_state[name] = optimizers[name].update(grads, opt_state[name],
                                                                params[name])
            params[name] = optax.apply_updates(
                params[name], jax.tree.map(lambda u: u * scale, updates))

        params, opt_state = dict(params), dict(opt_state)  # copies that `step` updates
        (_, metrics), grads = jax.value_and_grad(self._critic_loss, has_aux=True)(
            params["critic"], params, stats, critic_stats, batch, k_critic, hp)
        step("critic", grads)
        (actor_loss, actor_metrics), grads = jax.value_and_grad(self._actor_loss, has_aux=True)(
            params["actor"], params, stats, critic_stats, batch, k_actor, member)
        step("actor", grads, actor_learns)
        metrics.update(actor_metrics)

        # Each temperature's loss is log α · (H − H_target), H the policy's entropy on that
        # temperature's rows: its gradient raises α while the policy is less random than the
        # target. A temperature none of whose states are in the minibatch skips the step.
        shape = params["log_alpha"].shape
        present = (actor_metrics["group_rows"] > 0).astype(jnp.float32)
        grads = (actor_metrics["group_entropy"] - self._targets(hp)) * present
        step("log_alpha", grads.reshape(shape), actor_learns * present.reshape(shape))
        params["target_critic"] = optax.incremental_update(params["critic"],
                                                           params["target_critic"], hp.tau)
        alpha = jnp.exp(params["log_alpha"])
        if self._temperatures > 1:
            metrics.update(alpha=alpha[0], alpha_valid=alpha[1])
        else:
            metrics["alpha"] = alpha
        metrics["total_loss"] = metrics["critic_loss"] + actor_loss
        return params, opt_state, metrics

    # ----- one iteration's learning (the rollout is the PPO trainer's)
    def _learn(self, state: TrainState, traj: Transition, k_update: jax.Array,
               k_sero: jax.Array, hp: PPOConfig) -> tuple[TrainState, dict]:
        cfg = self.config
        critic_stats = state.critic_obs_stats
        if cfg.normalize_observations:
            critic_stats = critic_stats.update(traj.obs)
        n = cfg.steps_per_iteration
        replay = state.replay.add(jax.tree.map(lambda x: x.reshape((n, *x.shape[2:])), traj))
        actor_learns = self._actor_learns(state.iteration)

        def update(carry: tuple, key: jax.Array) -> tuple[tuple, dict]:
            params, opt_state = carry
            k_sample, k_loss = jax.random.split(key)
            batch = replay.sample(k_sample, cfg.sac_batch_size)
            params, opt_state, metrics = self._update(
                params, opt_state, state.obs_stats, critic_stats, batch, k_loss, hp,
                actor_learns, state.member)
            return (params, opt_state), metrics

        (params, opt_state), metrics = jax.lax.scan(
            update, (state.params, state.opt_state), jax.random.split(k_update, cfg.sac_updates))
        rows = metrics.pop("group_rows")  # [sac_updates, temperatures]
        entropy = metrics.pop("group_entropy")
        metrics = jax.tree.map(jnp.mean, metrics)
        if self._temperatures > 1:  # over every row each temperature answered to
            entropy = jnp.sum(entropy * rows, 0) / jnp.maximum(jnp.sum(rows, 0), 1)
            metrics.update(entropy_fallen=entropy[0], entropy_valid=entropy[1])
        metrics["train_reward"] = jnp.mean(traj.reward)
        metrics["train_valid_fraction"] = jnp.mean(traj.valid)
        metrics["finite"] = tree_finite(params) & jnp.isfinite(metrics["total_loss"])
        return state.replace(params=params, opt_state=opt_state, critic_obs_stats=critic_stats,
                             replay=replay), metrics
