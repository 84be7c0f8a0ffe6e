"""Policy and value networks, and the tanh-squashed Gaussian the policy acts with."""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

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


def gaussian_log_prob(u: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    """log N(u; mean, std) summed over action dimensions (the tanh Jacobian cancels in PPO's
    ratio and in behaviour cloning toward pre-tanh samples, so it is left out)."""
    z = (u - mean) / std
    return jnp.sum(-0.5 * jnp.square(z) - jnp.log(std) - 0.5 * math.log(2 * math.pi), axis=-1)


def gaussian_entropy(std: jax.Array) -> jax.Array:
    """Entropy of the pre-tanh Gaussian: it grows without bound with the std."""
    return jnp.sum(jnp.log(std) + 0.5 * math.log(2 * math.pi * math.e), axis=-1)


def squashed_entropy(mean: jax.Array, std: jax.Array, noise: jax.Array) -> jax.Array:
    """One-sample estimate of the entropy of the action a = tanh(u), u ~ N(mean, std):
    H[u] + E[log |da/du|], the sample reparameterised (u = mean + std * noise) so that it has
    gradients. Unlike the pre-tanh entropy it is largest at a moderate std and falls as the
    actions saturate at +-1 (the form brax's tanh-Gaussian and SAC use)."""
    u = mean + std * noise
    # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), exact and stable for large |u|.
    log_jacobian = 2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u))
    return gaussian_entropy(std) + jnp.sum(log_jacobian, axis=-1)
