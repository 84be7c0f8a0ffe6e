"""PPO on batched MJX envs as pure JAX functions (PureJaxRL's shape, brax's bookkeeping).

    trainer = make_train(env, config)
    state, metrics = jax.jit(trainer.train)(key)           # the whole run, one program
    states = jax.vmap(trainer.init)(keys)                  # or: several seeds ...
    states, metrics = jax.jit(jax.vmap(trainer.run_chunk))(states)   # ... one eval period

One iteration = a rollout of `unroll_length` steps on `num_envs` envs, GAE, then
`update_epochs` passes of `num_minibatches` minibatch updates. `run_chunk` scans
`iterations_per_eval` iterations and evaluates, so the host sees the run only at evaluation
boundaries (for checkpoints, metrics and progress) and the training loop itself never leaves
the device. The env batch is sharded over all local devices along a mesh axis "envs";
parameters are replicated and XLA inserts the gradient all-reduce.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from lamour_jax.envs.base import Env, State
from lamour_jax.envs.wrappers import AutoResetBatch, EnvDevices
from lamour_jax.learner.config import PPOConfig
from lamour_jax.learner.evaluate import evaluate_episodes
from lamour_jax.learner.networks import (
    Actor,
    Critic,
    PolicyFns,
    gaussian_entropy,
    gaussian_log_prob,
    squashed_entropy,
    with_constant_std,
    with_output_layer,
)
from lamour_jax.learner.normalizer import ReturnStats, RunningStats
from lamour_jax.learner.types import (
    ActFn,
    ExtraLossFn,
    MetricsFn,
    RewardFn,
    TrainState,
    Transition,
)

SERO_SAMPLES = 30  # MC-dropout samples for the per-feature variance (SeRO)
SERO_STATES = 256  # states per iteration on which the variance maximum is tracked
ADAPTIVE_LR_RANGE = (1e-5, 1e-2)  # bounds of lr_schedule="adaptive"

def tree_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


class Trainer:
    """The pure functions of one PPO configuration (see the module docstring)."""

    def __init__(self, env: Env, config: PPOConfig, reward_fn: RewardFn | None = None,
                 extra_policy_loss: ExtraLossFn | None = None,
                 init_actor: dict[str, Any] | None = None,
                 extra_metrics: MetricsFn | None = None, eval_env: Env | None = None) -> None:
        self.env = env
        # Where the evaluation episodes start: the training env unless told otherwise (a
        # retraining whose rollouts mix in Normal starts is still evaluated on OOD ones).
        self.eval_env = env if eval_env is None else eval_env
        self.config = config.validate()
        self.reward_fn = reward_fn
        self.extra_policy_loss = extra_policy_loss
        self.init_actor = init_actor
        self.extra_metrics = extra_metrics
        self.actor = Actor(env.action_size, config.policy_hidden, config.activation,
                           config.policy_dropout)
        self.critic = Critic(config.value_hidden, config.activation)
        self.policy = PolicyFns(self.actor, config.normalize_observations, config.obs_clip,
                                config.obs_std_floor)
        devices = np.array(jax.devices())  # every process's, after jax.distributed
        host_physics = getattr(getattr(env, "robot", None), "physics", "mjx") == "native"
        for name in ("num_envs", "eval_envs") if host_physics else ("num_envs",):
            if getattr(config, name) % len(devices):
                raise ValueError(f"{name}={getattr(config, name)} must be a multiple of the "
                                 f"{len(devices)} devices")
        self.mesh = Mesh(devices, ("envs",))
        self.devices = EnvDevices(self.mesh, host_physics)
        self.batch_env = AutoResetBatch(env, config.num_envs, self.devices)

    # ----- optimiser (built from the config's leaves, so a vmapped sweep over them works)
    def _optimizer(self, hp: PPOConfig) -> optax.GradientTransformation:
        if self.config.lr_schedule == "linear":
            total = max(1, self.config.num_iterations * self.config.num_minibatches
                        * self.config.update_epochs)
            lr: Any = optax.linear_schedule(hp.learning_rate, 0.0, total)
        elif self.config.lr_schedule == "adaptive":  # the rate lives in the optimizer state
            return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm),
                               optax.inject_hyperparams(optax.adam)(learning_rate=hp.learning_rate))
        else:
            lr = hp.learning_rate
        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(lr))

    def _adapt_learning_rate(self, opt_state: Any, kl: jax.Array, hp: PPOConfig,
                             actor_learns: jax.Array) -> Any:
        """lr_schedule="adaptive": scale the rate by the KL the last step measured (not while
        the actor is held back, when the KL says nothing)."""
        clip_state, adam_state = opt_state
        lr = adam_state.hyperparams["learning_rate"]
        adapted = jnp.where(kl > 2.0 * hp.desired_kl, lr / 1.5,
                            jnp.where(kl < 0.5 * hp.desired_kl, lr * 1.5, lr))
        lr = jnp.where(actor_learns > 0, jnp.clip(adapted, *ADAPTIVE_LR_RANGE), lr)
        adam_state = adam_state._replace(hyperparams={**adam_state.hyperparams,
                                                      "learning_rate": lr})
        return (clip_state, adam_state)

    # ----- init
    def init(self, key: jax.Array, hp: PPOConfig | None = None, member: Any = 0
             ) -> TrainState:
        hp = hp or self.config
        k_actor, k_critic, k_env, k_state = jax.random.split(key, 4)
        actor_params, stats = self._initial_actor(k_actor)
        dummy = jnp.zeros((self.env.observation_size,))
        params = {"actor": actor_params, "critic": self.critic.init(k_critic, dummy)}
        return self._fresh_state(params, self._optimizer(hp).init(params), stats, k_env,
                                 k_state, member)

    def _initial_actor(self, key: jax.Array) -> tuple[Any, RunningStats]:
        """The actor's parameters and input statistics: another run's policy when given one
        (retraining), else fresh; with init_std, its std head reset."""
        if self.init_actor is not None:
            actor_params = self.init_actor["actor"]
            stats = self.init_actor["obs_stats"]
        else:
            actor_params = self.actor.init(key, jnp.zeros((self.env.observation_size,)))
            stats = RunningStats.create(self.env.observation_size)
        if self.config.init_std > 0:
            actor_params = with_constant_std(actor_params, self.env.action_size,
                                             self.config.init_std)
        return actor_params, stats

    def _fresh_state(self, params: dict[str, Any], opt_state: Any, stats: RunningStats,
                     k_env: jax.Array, k_state: jax.Array, member: Any, replay: Any = None
                     ) -> TrainState:
        env_state = self.batch_env.reset(k_env)  # laid out over the devices by the batch
        return TrainState(
            params=params, opt_state=opt_state, obs_stats=stats,
            critic_obs_stats=RunningStats.create(self.env.observation_size),
            env_state=env_state, key=k_state, iteration=jnp.zeros((), jnp.int32),
            episode_return=self.devices.pin(jnp.zeros(self.config.num_envs),
                                           self.config.num_envs),
            dropout_var_max=jnp.zeros(self.env.action_size),
            member=jnp.asarray(member, jnp.int32), replay=replay,
            value_stats=(ReturnStats.create() if self.config.value_normalization == "popart"
                         else None),
        )

    # ----- rollout
    def rollout_starts(self, key: jax.Array) -> State | None:
        """The starts a rollout's ended episodes restart from: one fresh draw per env for
        auto_reset="per_rollout", None for "per_episode" (the env draws at each end)."""
        if self.config.auto_reset != "per_rollout":
            return None
        return self.batch_env.draw_starts(key)

    def _rollout(self, state: TrainState, key: jax.Array
                 ) -> tuple[State, jax.Array, Transition, dict[str, jax.Array]]:
        cfg = self.config

        starts = None
        if cfg.auto_reset == "per_rollout":  # a key for the draw only then: per_episode keeps
            key, starts_key = jax.random.split(key)  # the random stream it always had
            starts = self.rollout_starts(starts_key)

        def step(carry: tuple, step_key: jax.Array) -> tuple[tuple, tuple]:
            env_state, episode_return = carry
            obs = env_state.obs
            dropout_key = None
            if cfg.policy_dropout > 0:  # a mask per env, kept for the update
                step_key, mask_key = jax.random.split(step_key)
                mask_keys = jax.random.split(mask_key, cfg.num_envs)
                mean, std = self.policy.masked_distribution(state.params["actor"],
                                                            state.obs_stats, obs, mask_keys)
                dropout_key = jax.random.key_data(mask_keys)
            else:
                mean, std = self.policy.distribution(state.params["actor"], state.obs_stats, obs)
            u = mean + std * jax.random.normal(step_key, mean.shape)
            action = jnp.tanh(u)
            nxt = self.batch_env.step(env_state, action, starts)
            next_obs = nxt.info["terminal_obs"]
            reward = nxt.reward
            if self.reward_fn is not None:
                info = {**nxt.info, "env_reward": nxt.reward,
                        "member": jnp.full(cfg.num_envs, state.member)}
                reward = jax.vmap(self.reward_fn)(obs, action, next_obs, info)
            truncation = nxt.info["truncation"]
            termination = nxt.done * (1.0 - truncation)
            if cfg.fall_value == "bootstrap":  # only a blow-up ends the value target
                termination = termination * nxt.info["diverged"]
            episode_return = episode_return + reward
            finished = (nxt.done * episode_return, nxt.done, nxt.info["diverged"])
            transition = Transition(
                obs=obs, u=u, log_prob=gaussian_log_prob(u, mean, std), reward=reward,
                termination=termination, done=nxt.done, next_obs=next_obs,
                valid=nxt.info["valid"].astype(jnp.float32),
                steps_up=env_state.info["steps_up"], dropout_key=dropout_key)
            return (nxt, episode_return * (1.0 - nxt.done)), (transition, finished)

        keys = jax.random.split(key, cfg.unroll_length)
        (env_state, episode_return), (traj, (ret_sum, ret_count, cut)) = jax.lax.scan(
            step, (state.env_state, state.episode_return), keys)
        stats = {"train_return_sum": jnp.sum(ret_sum), "train_episodes": jnp.sum(ret_count),
                 "train_diverged": jnp.sum(cut)}
        return env_state, episode_return, traj, stats

    # ----- losses
    def _values(self, params: dict, critic_stats: RunningStats, obs: jax.Array,
                value_stats: ReturnStats | None = None) -> jax.Array:
        """The critic's output: in reward units given the PopArt statistics (or without
        PopArt), else in the statistics' standardised units (what its loss regresses)."""
        values = self.critic.apply(params["critic"],
                                   critic_stats.normalize(obs, self.config.normalize_observations))
        if value_stats is None:
            return values
        return values * value_stats.std + value_stats.mean

    def _advantages(self, params: dict, critic_stats: RunningStats, traj: Transition,
                    hp: PPOConfig, value_stats: ReturnStats | None = None
                    ) -> tuple[jax.Array, jax.Array]:
        values = self._values(params, critic_stats, traj.obs, value_stats)
        next_values = self._values(params, critic_stats, traj.next_obs, value_stats)
        rewards = traj.reward * hp.reward_scaling
        deltas = rewards + hp.gamma * (1.0 - traj.termination) * next_values - values

        def backward(carry: jax.Array, x: tuple) -> tuple[jax.Array, jax.Array]:
            delta, done = x
            advantage = delta + hp.gamma * hp.gae_lambda * (1.0 - done) * carry
            return advantage, advantage

        _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, traj.done),
                                     reverse=True)
        return advantages, advantages + values

    def _loss(self, params: dict, stats: RunningStats, critic_stats: RunningStats,
              batch: Transition, advantages: jax.Array, targets: jax.Array, key: jax.Array,
              hp: PPOConfig, member: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        if self.config.policy_dropout > 0:  # the rollout's masks (see Transition)
            mean, std = self.policy.masked_distribution(
                params["actor"], stats, batch.obs, jax.random.wrap_key_data(batch.dropout_key))
        else:
            mean, std = self.policy.distribution(params["actor"], stats, batch.obs)
        log_prob = gaussian_log_prob(batch.u, mean, std)
        ratio = jnp.exp(log_prob - batch.log_prob)
        adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        clipped = jnp.clip(ratio, 1.0 - hp.clip_eps, 1.0 + hp.clip_eps)
        policy_loss = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))
        values = self._values(params, critic_stats, batch.obs)  # PopArt: both standardised
        value_loss = 0.5 * jnp.mean(jnp.square(values - targets))
        if self.config.entropy_space == "action":
            key, k_entropy = jax.random.split(key)
            entropy = squashed_entropy(mean, std, jax.random.normal(k_entropy, mean.shape))
        else:
            entropy = gaussian_entropy(std)
        if self.config.entropy_states == "fallen":  # no bonus on rows whose state is valid
            entropy = entropy * (batch.steps_up == 0)
        entropy = jnp.mean(entropy)  # over the minibatch: what the loss pays
        total = policy_loss + hp.value_coef * value_loss - hp.entropy_coef * entropy
        metrics = {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy,
                   # Schulman's k3 estimator of KL(rollout policy || current): >= 0, low variance
                   "approx_kl": jnp.mean(ratio - 1.0 - (log_prob - batch.log_prob)),
                   "clip_fraction": jnp.mean(jnp.abs(ratio - 1.0) > hp.clip_eps)}
        if self.extra_policy_loss is not None:
            extra, extra_metrics = self.extra_policy_loss(mean, std, batch, key, member)
            total = total + extra
            metrics.update({"extra_loss": extra, **extra_metrics})
        metrics["total_loss"] = total
        return total, metrics

    # ----- one iteration
    def _iteration(self, state: TrainState, hp: PPOConfig) -> tuple[TrainState, dict]:
        key, k_rollout, k_update, k_sero = jax.random.split(state.key, 4)
        env_state, episode_return, traj, rollout_stats = self._rollout(state, k_rollout)
        state, metrics = self._learn(state, traj, k_update, k_sero, hp)
        metrics.update(rollout_stats)
        return state.replace(env_state=env_state, episode_return=episode_return, key=key,
                             iteration=state.iteration + 1), metrics

    def _learn(self, state: TrainState, traj: Transition, k_update: jax.Array,
               k_sero: jax.Array, hp: PPOConfig) -> tuple[TrainState, dict]:
        """Everything of an iteration after its rollout: normaliser, GAE, the update epochs.
        Returns `state` with new parameters, optimiser state and statistics (its env state,
        key and counter are the caller's to advance)."""
        cfg = self.config
        stats, critic_stats = state.obs_stats, state.critic_obs_stats
        if cfg.normalize_observations:
            critic_stats = critic_stats.update(traj.obs)
            if not cfg.freeze_normalizer:
                stats = stats.update(traj.obs)
        advantages, targets = self._advantages(state.params, critic_stats, traj, hp,
                                               state.value_stats)
        params, value_stats = state.params, state.value_stats
        if value_stats is not None:  # PopArt: new statistics, the critic's outputs kept
            params, value_stats, targets = self._renormalize_values(params, value_stats,
                                                                    targets, hp)

        n = cfg.num_envs * cfg.unroll_length
        # The updates never read next_obs (the advantages above did): not shuffled 4x per batch.
        minibatch_traj = traj.replace(next_obs=None)
        flat = jax.tree.map(lambda x: x.reshape((n, *x.shape[2:])),
                            (minibatch_traj, advantages, targets))
        if cfg.entropy_schedule == "linear":  # over the run's iterations, like the linear rate
            hp = hp.replace(entropy_coef=hp.entropy_coef
                            * jnp.maximum(0.0, 1.0 - state.iteration / cfg.num_iterations))
        optimizer = self._optimizer(hp)
        grad_fn = jax.value_and_grad(self._loss, has_aux=True)
        actor_learns = self._actor_learns(state.iteration)

        def epoch(carry: tuple, epoch_key: jax.Array) -> tuple[tuple, dict]:
            k_perm, k_mb = jax.random.split(epoch_key)
            order = jax.random.permutation(k_perm, n)
            shuffled = jax.tree.map(
                lambda x: x[order].reshape((cfg.num_minibatches, -1, *x.shape[1:])), flat)

            def minibatch(carry: tuple, xs: tuple) -> tuple[tuple, dict]:
                params, opt_state = carry
                (batch, adv, tgt), mb_key = xs
                (_, metrics), grads = grad_fn(params, stats, critic_stats, batch, adv, tgt,
                                              mb_key, hp, state.member)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                updates = {**updates, "actor": jax.tree.map(lambda u: u * actor_learns,
                                                             updates["actor"])}
                if cfg.lr_schedule == "adaptive":
                    opt_state = self._adapt_learning_rate(opt_state, metrics["approx_kl"], hp,
                                                          actor_learns)
                    metrics["learning_rate"] = opt_state[1].hyperparams["learning_rate"]
                metrics["grad_norm"] = optax.tree.norm(grads)
                return (optax.apply_updates(params, updates), opt_state), metrics

            mb_keys = jax.random.split(k_mb, cfg.num_minibatches)
            return jax.lax.scan(minibatch, carry, (shuffled, mb_keys))

        (params, opt_state), metrics = jax.lax.scan(
            epoch, (params, state.opt_state), jax.random.split(k_update, cfg.update_epochs))
        metrics = jax.tree.map(jnp.mean, metrics)
        # What the learner optimises, per step (a recovery run's shaped reward climbs here long
        # before any evaluation episode recovers), and how much of the rollout was valid.
        metrics["train_reward"] = jnp.mean(traj.reward)
        metrics["train_valid_fraction"] = jnp.mean(traj.valid)
        if cfg.entropy_schedule != "constant":
            metrics["entropy_coef"] = hp.entropy_coef
        if value_stats is not None:
            metrics["value_target_mean"] = value_stats.mean
            metrics["value_target_std"] = value_stats.std
        metrics["finite"] = tree_finite(params) & jnp.isfinite(metrics["total_loss"])

        dropout_var_max = state.dropout_var_max
        if cfg.policy_dropout > 0:
            dropout_var_max = jnp.maximum(dropout_var_max, self._dropout_variance(
                params["actor"], stats, flat[0].obs[:SERO_STATES], k_sero))
        return state.replace(params=params, opt_state=opt_state, obs_stats=stats,
                             critic_obs_stats=critic_stats, dropout_var_max=dropout_var_max,
                             value_stats=value_stats), metrics

    def _renormalize_values(self, params: dict, value_stats: ReturnStats, targets: jax.Array,
                            hp: PPOConfig) -> tuple[dict, ReturnStats, jax.Array]:
        """PopArt's step: the statistics take in this iteration's targets, the critic's output
        layer is rescaled so that its values in reward units are unchanged by the new
        statistics, and the targets come back standardised (what the value loss regresses)."""
        new = value_stats.update(targets, hp.value_norm_rate)
        critic = with_output_layer(params["critic"], lambda layer: {
            "kernel": layer["kernel"] * value_stats.std / new.std,
            "bias": (layer["bias"] * value_stats.std + value_stats.mean - new.mean) / new.std})
        return {**params, "critic": critic}, new, (targets - new.mean) / new.std

    def _actor_learns(self, iteration: jax.Array) -> jax.Array:
        """1.0 once the critic's warm-up (critic_warmup_steps, in whole iterations) is over,
        0.0 before: the factor the actor's updates are scaled by."""
        cfg = self.config
        warmup_iterations = -(-cfg.critic_warmup_steps // cfg.steps_per_iteration)
        return (iteration >= warmup_iterations).astype(jnp.float32)

    def _dropout_variance(self, actor_params: Any, stats: RunningStats, obs: jax.Array,
                          key: jax.Array) -> jax.Array:
        """Largest per-feature variance of the action mean over MC-dropout samples."""
        keys = jax.random.split(key, SERO_SAMPLES)
        means = jax.vmap(lambda k: self.policy.distribution(actor_params, stats, obs, k)[0])(keys)
        return jnp.max(jnp.var(means, axis=0), axis=0)

    # ----- evaluation
    def _eval_policy(self, state: TrainState) -> ActFn:
        """The state's deterministic policy."""
        def act(obs: jax.Array) -> jax.Array:
            return self.policy.act(state.params["actor"], state.obs_stats, obs)

        return act

    def evaluate(self, state: TrainState, key: jax.Array) -> dict[str, jax.Array]:
        """Deterministic-policy episodes on `eval_envs` fresh envs, run to the time limit."""
        return evaluate_episodes(self.eval_env, self._eval_policy(state), key,
                                 self.config.eval_envs, self.devices)

    # ----- the units the host runs
    def iterate(self, state: TrainState, hp: PPOConfig | None = None
                ) -> tuple[TrainState, dict[str, jax.Array]]:
        """`iterations_per_eval` iterations (rollout + updates), no evaluation; metrics have
        a leading iteration axis."""
        hp = hp or self.config
        return jax.lax.scan(lambda s, _: self._iteration(s, hp), state, None,
                            length=self.config.iterations_per_eval)

    def run_chunk(self, state: TrainState, hp: PPOConfig | None = None
                  ) -> tuple[TrainState, dict[str, jax.Array]]:
        """`iterations_per_eval` iterations, then an evaluation."""
        state, metrics = self.iterate(state, hp)
        finite = jnp.all(metrics.pop("finite"))
        episodes = jnp.sum(metrics.pop("train_episodes"))
        # Episodes the physics blew up in (NaN, inf or, on the C engine, its unstable-simulation
        # warning) and Env.step cut: a count per period, not a mean.
        diverged = jnp.sum(metrics.pop("train_diverged"))
        train_return = jnp.sum(metrics.pop("train_return_sum")) / jnp.maximum(episodes, 1.0)
        metrics = jax.tree.map(jnp.mean, metrics)
        eval_key = jax.random.fold_in(state.key, 7)
        episodes_out = self.evaluate(state, eval_key)
        valid_ever = episodes_out["first_valid_step"] >= 0
        recovered_return = jnp.where(valid_ever, episodes_out["return"], 0.0)
        metrics.update({
            "finite": finite, "train_return": train_return, "train_episodes": episodes,
            "train_diverged_episodes": diverged,
            "return_mean": jnp.mean(episodes_out["return"]),
            "return_std": jnp.std(episodes_out["return"]),
            "original_return_mean": jnp.mean(episodes_out["original_return"]),
            "episode_length": jnp.mean(episodes_out["length"]),
            "recovery_rate": jnp.mean(valid_ever),
            # Steps until the state first passed the env's validity test (NaN: none did).
            "steps_to_recovery_median": jnp.nanmedian(
                jnp.where(valid_ever, episodes_out["first_valid_step"], jnp.nan)),
            "return_after_recovery": jnp.sum(recovered_return)
            / jnp.maximum(jnp.sum(valid_ever), 1),
            "dropout_var_max": state.dropout_var_max,
        })
        if "success" in episodes_out:
            metrics["success_rate"] = jnp.mean(episodes_out["success"])
        if self.extra_metrics is not None:
            metrics.update(self.extra_metrics(self._eval_policy(state),
                                              jax.random.fold_in(state.key, 11), self.devices))
        return state, metrics

    def train(self, key: jax.Array, hp: PPOConfig | None = None
              ) -> tuple[TrainState, dict[str, jax.Array]]:
        """The whole run as one pure function: vmap it over keys (seeds) or configs (sweeps)."""
        hp = hp or self.config
        state = self.init(key, hp)
        return jax.lax.scan(lambda s, _: self.run_chunk(s, hp), state, None,
                            length=self.config.num_evals)
