"""A batch of envs stepped in lockstep with auto-reset: the view of an env the learner uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from lamour_jax.envs.base import Env, State

# Per-episode bookkeeping that a restart must reset. Everything else in `info` describes the
# transition that just ended the episode (reward, truncation, validity) and is kept for the
# learner.
_EPISODE_KEYS = ("steps", "recovered_once", "steps_up")


class EnvDevices:
    """How a batch of envs is spread over the devices of a mesh with one axis, "envs".

    `pin` constrains a batch (leading axis: the envs) to that axis. `map` runs a function of
    a batch on each device's own slice (`shard_map`), which the C engine needs: XLA runs a
    host callback left to the partitioner on one device, for the whole batch, while the other
    devices wait for it at their collectives (on CPU devices until XLA aborts the process).
    MJX needs no `map`: its physics is XLA's to partition.
    """

    def __init__(self, mesh: Mesh | None = None, host_physics: bool = False) -> None:
        self.mesh = mesh
        self.host_physics = host_physics
        self.count = 1 if mesh is None else mesh.size

    def pin(self, tree: Any, size: int) -> Any:
        if self.count == 1 or size % self.count:
            return tree
        return jax.lax.with_sharding_constraint(tree, NamedSharding(self.mesh, P("envs")))

    def map(self, fn: Callable[..., Any], size: int) -> Callable[..., Any]:
        """`fn` (whose arguments and results all lead with an axis of `size` envs) run on
        each device's slice when the physics is a host callback; `fn` itself otherwise."""
        if self.count == 1 or not self.host_physics:
            return fn
        if size % self.count:
            raise ValueError(f"a batch of {size} envs does not split over {self.count} "
                             "devices: make it a multiple of the device count")
        return jax.shard_map(fn, mesh=self.mesh, in_specs=P("envs"), out_specs=P("envs"),
                             check_vma=False)


ONE_DEVICE = EnvDevices()


class AutoResetBatch:
    """`num_envs` copies of `env`; an env whose episode ends restarts from a new draw of the
    env's reset distribution (for OOD envs: a new OOD-sampler state).

    Where the draw comes from is the caller's choice, per step:
    - `step(state, action)`: drawn at that step. Every episode gets its own start, but on a
      step where any env ends the whole batch pays a reset (an `mjx.forward` per env: about a
      quarter of a hopper step), and early in training some env ends on most steps.
    - `step(state, action, starts)`: env i takes `starts` row i, a batch the caller drew with
      `draw_starts` (the learner draws one per rollout). The restart is a select, no physics;
      an env that ends twice before the next draw starts from the same state twice.
    Brax's auto-reset replays one start per env cached for the whole run; both ways here draw
    fresh ones.

    After a restart, `obs` is the new episode's first observation and `info['terminal_obs']`
    the observation the ended episode reached (needed to bootstrap values at time limits).
    """

    def __init__(self, env: Env, num_envs: int, devices: EnvDevices = ONE_DEVICE) -> None:
        self.env = env
        self.num_envs = int(num_envs)
        self.devices = devices

    def draw_starts(self, key: jax.Array) -> State:
        """One start state per env, fresh from the env's reset distribution."""
        reset = self.devices.map(jax.vmap(self.env.reset), self.num_envs)
        return self.devices.pin(reset(jax.random.split(key, self.num_envs)), self.num_envs)

    def reset(self, key: jax.Array) -> State:
        state = self.draw_starts(key)
        return state.replace(info={**state.info, "terminal_obs": state.obs})

    def step(self, state: State, action: jax.Array, starts: State | None = None) -> State:
        step = self.devices.map(self._step, self.num_envs)
        return self.devices.pin(step(state, action, starts), self.num_envs)

    def _step(self, state: State, action: jax.Array, starts: State | None) -> State:
        stepped = jax.vmap(self.env.step)(state, action)
        stepped = stepped.replace(info={**stepped.info, "terminal_obs": stepped.obs})
        if starts is None:
            restart = self._restart_fresh
        else:
            def restart(s: State) -> State:
                return self._restart_from(s, starts, s.info["rng"])
        # Skip the restart entirely on steps where no episode ended (most steps, later on).
        return jax.lax.cond(jnp.any(stepped.done > 0), restart, lambda s: s, stepped)

    def _restart_fresh(self, state: State) -> State:
        keys = jax.vmap(jax.random.split)(state.info["rng"])  # (n, 2) keys
        return self._restart_from(state, jax.vmap(self.env.reset)(keys[:, 1]), keys[:, 0])

    def _restart_from(self, state: State, starts: State, kept_rng: jax.Array) -> State:
        """Ended envs take their row of `starts`; the others keep their state (and
        `kept_rng`, their reset key)."""
        done = state.done > 0

        def pick(new: jax.Array, old: jax.Array) -> jax.Array:
            return jnp.where(done.reshape(done.shape + (1,) * (old.ndim - 1)), new, old)

        info = dict(state.info)
        for k in _EPISODE_KEYS:
            info[k] = pick(starts.info[k], state.info[k])
        info["rng"] = pick(starts.info["rng"], kept_rng)
        return state.replace(
            data=jax.tree.map(pick, starts.data, state.data),
            obs=pick(starts.obs, state.obs),
            info=info,
        )
