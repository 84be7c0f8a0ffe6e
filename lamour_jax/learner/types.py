"""The learner's data: what a rollout records (`Transition`), what a run carries from one
iteration to the next (`TrainState`), and the hooks a method plugs into the trainer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from flax import struct

from lamour_jax.envs.base import State
from lamour_jax.envs.wrappers import EnvDevices
from lamour_jax.learner.normalizer import RunningStats

# reward_fn(obs, action, next_obs, info) -> reward, for one env (the learner vmaps it).
# info holds the env's info after the step plus "env_reward" (the env's own reward) and
# "member" (the TrainState's member index, see below).
RewardFn = Callable[[jax.Array, jax.Array, jax.Array, dict], jax.Array]
# extra_policy_loss(mean, std, batch, key, member) -> (loss, metrics): added to the actor
# loss. mean and std are the current policy's pre-tanh Gaussian at batch.obs (a minibatch of
# Transitions).
ExtraLossFn = Callable[[jax.Array, jax.Array, "Transition", jax.Array, jax.Array],
                       tuple[jax.Array, dict[str, jax.Array]]]
ActFn = Callable[[jax.Array], jax.Array]
# extra_metrics(act, key, devices) -> metrics: more evaluation at each period's end (a recovery
# measures retention on the Normal env), given the period's deterministic policy and how an
# env batch is spread over the devices.
MetricsFn = Callable[[ActFn, jax.Array, EnvDevices], dict[str, jax.Array]]


@struct.dataclass
class Transition:
    obs: jax.Array
    u: jax.Array  # pre-tanh action
    log_prob: jax.Array
    reward: jax.Array
    termination: jax.Array  # 1.0: the episode ended for real (no bootstrap)
    done: jax.Array  # 1.0: the episode ended (termination or time limit): cut the GAE trace
    next_obs: jax.Array  # the true next observation, before any auto-reset
    valid: jax.Array  # the env's validity test after the step
    steps_up: jax.Array  # steps `obs` has stayed valid since it got up (envs.base.State)
    # A policy with dropout: the raw key of the dropout mask each action was sampled under
    # (None without dropout). The update re-applies the same masks, so the PPO ratio compares
    # the policy with itself under one mask instead of two different random networks.
    dropout_key: jax.Array | None = None


@struct.dataclass
class TrainState:
    params: dict[str, Any]  # {"actor": ..., "critic": ...}
    opt_state: Any
    obs_stats: RunningStats  # the actor's input normaliser
    critic_obs_stats: RunningStats  # the critic's (always updated; see freeze_normalizer)
    env_state: State
    key: jax.Array
    iteration: jax.Array
    episode_return: jax.Array  # running return of each env's current training episode
    dropout_var_max: jax.Array  # per action feature; SeRO's normaliser (zeros without dropout)
    # This state's index on the program's batch axis (an int the hooks receive): lets one
    # vmapped program train several reward candidates side by side.
    member: jax.Array
    replay: Any = None  # SAC's replay buffer (learner/sac.py); PPO keeps none
    # value_normalization="popart": the running statistics of the critic's targets
    # (normalizer.ReturnStats); None otherwise.
    value_stats: Any = None
