"""Policy and value networks, the tanh-squashed Gaussian the policy acts with, and the
policy as functions of (actor parameters, observation statistics, raw observation)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lamour_jax.learner.normalizer import RunningStats

_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "swish": nn.swish, "elu": nn.elu}
MIN_STD = 1e-3


class MLP(nn.Module):
    hidden: Sequence[int]
    out: int
    activation: str = "tanh"
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        act = _ACTIVATIONS[self.activation]
        for width in self.hidden:
            x = act(nn.Dense(width, kernel_init=nn.initializers.lecun_uniform())(x))
            if self.dropout > 0.0:
                x = nn.Dropout(self.dropout)(x, deterministic=deterministic)
        return nn.Dense(self.out, kernel_init=nn.initializers.lecun_uniform())(x)


class Actor(nn.Module):
    """Mean and std of a Gaussian over pre-tanh actions u; the env receives tanh(u)."""

    action_size: int
    hidden: Sequence[int]
    activation: str = "tanh"
    dropout: float = 0.0

    @nn.compact
    def __call__(self, obs: jax.Array, deterministic: bool = True
                 ) -> tuple[jax.Array, jax.Array]:
        out = MLP(self.hidden, 2 * self.action_size, self.activation, self.dropout)(
            obs, deterministic)
        mean, raw_std = jnp.split(out, 2, axis=-1)
        return mean, nn.softplus(raw_std) + MIN_STD


class Critic(nn.Module):
    hidden: Sequence[int]
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return MLP(self.hidden, 1, self.activation)(obs)[..., 0]


class TwinQ(nn.Module):
    """Two independent action values Q(s, a), stacked on a leading axis of 2: SAC learns
    toward the smaller of the two (clipped double Q) against overestimation."""

    hidden: Sequence[int]
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = jnp.concatenate([obs, action], axis=-1)
        return jnp.stack([MLP(self.hidden, 1, self.activation)(x)[..., 0] for _ in range(2)])


def gaussian_log_prob(u: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    """log N(u; mean, std) summed over action dimensions (the tanh Jacobian cancels in PPO's
    ratio and in behaviour cloning toward pre-tanh samples, so it is left out)."""
    z = (u - mean) / std
    return jnp.sum(-0.5 * jnp.square(z) - jnp.log(std) - 0.5 * math.log(2 * math.pi), axis=-1)


def gaussian_entropy(std: jax.Array) -> jax.Array:
    """Entropy of the pre-tanh Gaussian: it grows without bound with the std."""
    return jnp.sum(jnp.log(std) + 0.5 * math.log(2 * math.pi * math.e), axis=-1)


def tanh_log_jacobian(u: jax.Array) -> jax.Array:
    """log |d tanh(u) / du| summed over action dimensions, via
    log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)): exact and stable for large |u|."""
    return jnp.sum(2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)


def squashed_entropy(mean: jax.Array, std: jax.Array, noise: jax.Array) -> jax.Array:
    """One-sample estimate of the entropy of the action a = tanh(u), u ~ N(mean, std):
    H[u] + E[log |da/du|], the sample reparameterised (u = mean + std * noise) so that it has
    gradients. Unlike the pre-tanh entropy it is largest at a moderate std and falls as the
    actions saturate at +-1 (the form brax's tanh-Gaussian and SAC use)."""
    return gaussian_entropy(std) + tanh_log_jacobian(mean + std * noise)


def squashed_log_prob(u: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    """log density of the action tanh(u) (SAC's log pi(a|s)): the Gaussian's at u less the
    squashing's log Jacobian."""
    return gaussian_log_prob(u, mean, std) - tanh_log_jacobian(u)


@dataclass
class PolicyFns:
    """The policy as functions of (actor params, obs stats, raw obs)."""

    actor: Actor
    normalize_observations: bool
    obs_clip: float = 10.0
    obs_std_floor: float = 1e-3

    def distribution(self, params: Any, stats: RunningStats, obs: jax.Array,
                     key: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        norm = stats.normalize(obs, self.normalize_observations, self.obs_clip,
                               self.obs_std_floor)
        if key is None:
            return self.actor.apply(params, norm)
        return self.actor.apply(params, norm, deterministic=False, rngs={"dropout": key})

    def masked_distribution(self, params: Any, stats: RunningStats, obs: jax.Array,
                            keys: jax.Array) -> tuple[jax.Array, jax.Array]:
        """A batch of observations, each under its own dropout mask drawn from `keys`."""
        return jax.vmap(lambda o, k: self.distribution(params, stats, o, k))(obs, keys)

    def act(self, params: Any, stats: RunningStats, obs: jax.Array) -> jax.Array:
        """The deterministic action tanh(mean) used for evaluation."""
        mean, _ = self.distribution(params, stats, obs)
        return jnp.tanh(mean)


def with_output_layer(params: Any, change: Callable[[dict], dict]) -> Any:
    """The same network (an Actor's, Critic's or TwinQ member's parameters) with its output
    layer, {"kernel", "bias"}, replaced by change(output layer)."""
    layers = params["params"]["MLP_0"]
    last = max(layers, key=lambda name: int(name.rsplit("_", 1)[1]))
    return {**params, "params": {**params["params"], "MLP_0": {
        **layers, last: {**layers[last], **change(layers[last])}}}}


def with_constant_std(actor_params: Any, action_size: int, std: float) -> Any:
    """The same actor with its std head replaced by a constant: the last layer's std columns
    get zero weights and the bias that softplus(bias) + MIN_STD = std."""
    raw = float(np.log(np.expm1(max(std - MIN_STD, 1e-6))))  # softplus inverse
    return with_output_layer(actor_params, lambda layer: {
        "kernel": layer["kernel"].at[..., action_size:].set(0.0),
        "bias": layer["bias"].at[..., action_size:].set(raw)})
