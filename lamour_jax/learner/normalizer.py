"""Running mean/variance of observations (parallel Welford), as a pytree."""

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
