"""Quaternion helpers in jnp (w, x, y, z convention, as MuJoCo stores them)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def quat_to_euler(quat: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Roll, pitch, yaw (x-y-z intrinsic) of a unit quaternion (w, x, y, z)."""
    w, x, y, z = quat[..., 0], quat[..., 1], quat[..., 2], quat[..., 3]
    roll = jnp.arctan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = jnp.arcsin(jnp.clip(2.0 * (w * y - z * x), -1.0, 1.0))
    yaw = jnp.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return roll, pitch, yaw


def random_unit_quat(key: jax.Array) -> jax.Array:
    """A rotation drawn uniformly from SO(3) (normalised 4-d Gaussian)."""
    q = jax.random.normal(key, (4,))
    return q / jnp.linalg.norm(q)


def axis_angle_quat(axis: tuple[float, float, float], angle: float) -> jax.Array:
    axis_arr = jnp.asarray(axis, jnp.float32)
    axis_arr = axis_arr / jnp.linalg.norm(axis_arr)
    return jnp.concatenate([jnp.cos(angle / 2)[None], jnp.sin(angle / 2) * axis_arr])
