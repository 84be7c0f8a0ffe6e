"""Running statistics as pytrees: of observations (parallel Welford) and of the critic's
targets (PopArt)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningStats:
    count: jax.Array
    mean: jax.Array
    m2: jax.Array  # sum of squared deviations

    @classmethod
    def create(cls, size: int) -> RunningStats:
        return cls(jnp.zeros(()), jnp.zeros(size), jnp.zeros(size))

    def update(self, batch: jax.Array) -> RunningStats:
        batch = batch.reshape(-1, batch.shape[-1])
        n = batch.shape[0]
        batch_mean = jnp.mean(batch, axis=0)
        batch_m2 = jnp.sum(jnp.square(batch - batch_mean), axis=0)
        total = self.count + n
        delta = batch_mean - self.mean
        mean = self.mean + delta * n / total
        m2 = self.m2 + batch_m2 + jnp.square(delta) * self.count * n / total
        return RunningStats(total, mean, m2)

    @property
    def std(self) -> jax.Array:
        return jnp.sqrt(jnp.maximum(self.m2 / jnp.maximum(self.count, 1.0), 1e-6))

    def normalize(self, obs: jax.Array, enabled: bool = True, clip: float = 10.0,
                  std_floor: float = 1e-3) -> jax.Array:
        if not enabled:
            return obs
        return jnp.clip((obs - self.mean) / jnp.maximum(self.std, std_floor), -clip, clip)


@struct.dataclass
class ReturnStats:
    """Running mean and second moment of the critic's targets (PopArt, van Hasselt et al.
    2016): the critic learns the targets in these units, so its regression has the same scale
    whatever level the rewards sit at.

    An exponential average, so the statistics follow returns that move as the policy learns;
    over the first updates it is the plain average of everything seen (the rate is at least
    1 / updates), so the first batch sets the scale instead of being averaged with the zero
    and one the statistics start from."""

    updates: jax.Array
    mean: jax.Array
    mean_sq: jax.Array

    @classmethod
    def create(cls) -> ReturnStats:
        return cls(jnp.zeros(()), jnp.zeros(()), jnp.ones(()))

    def update(self, targets: jax.Array, rate: jax.Array) -> ReturnStats:
        updates = self.updates + 1.0
        weight = jnp.maximum(rate, 1.0 / updates)
        mean = (1.0 - weight) * self.mean + weight * jnp.mean(targets)
        mean_sq = (1.0 - weight) * self.mean_sq + weight * jnp.mean(jnp.square(targets))
        return ReturnStats(updates, mean, mean_sq)

    @property
    def std(self) -> jax.Array:
        # Floored: a run whose targets are all alike (a constant reward) would otherwise blow
        # a small critic error up into a large normalised one.
        return jnp.sqrt(jnp.maximum(self.mean_sq - jnp.square(self.mean), RETURN_VAR_FLOOR))


RETURN_VAR_FLOOR = 1e-4  # ReturnStats' std is at least 0.01
