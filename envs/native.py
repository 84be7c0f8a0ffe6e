"""MuJoCo's C engine called from inside a compiled JAX program.

The physics of a batch of envs is stepped by `mujoco.batch.Batch` (many simulations of one
model on a thread pool, bit-identical at any thread count) through `jax.pure_callback`, so
the training program stays one jitted function: the policy, the reward program and the
learner run in XLA, the physics in C, and seeds, sweeps, candidates and checkpoints do not
know which engine stepped it.

The whole physics state of an env is its mjSTATE_INTEGRATION row (positions, velocities,
activations, the solver's warm start, controls, ...), kept in the env state as the raw bits of
its float64 values (`NativeData.state`, uint32), so that a checkpoint holds it exactly and a
resumed run steps on bit for bit. The float32 copies of qpos, qvel and the derived fields a
robot reads (`Robot.native_fields`: xpos, cfrc_ext, ...) come back with every call.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct

from lamour_jax.xla_runtime import available_cores

STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION.value
# The warnings with which the C engine reports a simulation that blew up.
UNSTABLE = [int(w) for w in (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
                             mujoco.mjtWarning.mjWARN_BADQACC)]


@struct.dataclass
class NativeData:
    """One env's C-engine state, as the robots read it (the same names as mjx.Data's)."""

    state: jax.Array  # uint32 [2 * nstate]: the float64 mjSTATE_INTEGRATION row, bit for bit
    qpos: jax.Array
    qvel: jax.Array
    fields: dict[str, jax.Array]  # derived fields named in Robot.native_fields


class EngineWarnings:
    """MuJoCo's warnings, said in one line per kind and process.

    Left to itself MuJoCo prints each warning per simulation (a line for each of hundreds of
    envs) and appends it to MUJOCO_LOG.TXT in the working folder. Its warning hook is
    process-global: installed only where no one else has set one. It is called on the
    engine's worker threads; the callback that stepped them says what was collected.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._said: set[str] = set()

    def install(self) -> None:
        if mujoco.get_mju_user_warning() is None:
            mujoco.set_mju_user_warning(self._collect)

    def _collect(self, message: str) -> None:
        # "Nan, Inf or huge value in QACC at DOF 3. The simulation is unstable. Time = 0.12."
        kind = re.split(r" at | Time = |\. ", message.strip(), maxsplit=1)[0].rstrip(".")
        with self._lock:
            self._pending[kind] = self._pending.get(kind, 0) + 1

    def report(self) -> None:
        """One line for each kind not said before in this process."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for kind, count in pending.items():
            if kind in self._said:
                continue
            self._said.add(kind)
            cut = (" (the simulation is unstable): those episodes are cut and restart, as a "
                   "non-finite MJX step's are" if "Nan, Inf or huge value" in kind else "")
            print(f"warning: MuJoCo's C engine: {kind} in {count} env(s){cut}. Said once per "
                  "run; a policy that keeps causing it needs a look (smaller actions, "
                  "--physics mjx to compare)", file=sys.stderr, flush=True)


WARNINGS = EngineWarnings()


class NativePhysics:
    """make_data / step for one robot on the C engine; pure and jit-able (a host callback
    inside), vmap-able over any number of leading axes (`vmap_method="expand_dims"`)."""

    def __init__(self, model: mujoco.MjModel, n_frames: int, fields: tuple[str, ...]) -> None:
        batch_module()  # here, not at the first step: an old MuJoCo is named at once
        WARNINGS.install()
        self.model = model
        self.n_frames = int(n_frames)
        self.fields = tuple(fields)
        self.nstate = mujoco.mj_stateSize(model, STATE_SPEC)
        self.threads = available_cores()
        data = mujoco.MjData(model)
        self._shapes = {name: np.shape(getattr(data, name)) for name in self.fields}
        row = np.zeros(self.nstate)
        mujoco.mj_getState(model, data, row, STATE_SPEC)
        self.initial_row = row  # the model's defaults (time 0, qpos0, zero velocities, ...)
        self._batches: dict[int, Any] = {}
        self._lock = threading.Lock()  # a Batch serves one caller at a time

    # ----- host side
    def _batch(self, n: int) -> Any:
        batch = self._batches.get(n)
        if batch is None:
            batch = self._batches[n] = batch_module().Batch(self.model, n, nthread=self.threads)
            for name in self.fields:  # a derived field is copied out only once it is bound
                batch.bind(name)
        return batch

    def _outputs(self, batch: Any, lead: tuple[int, ...]
                 ) -> tuple[np.ndarray, ...]:
        rows = batch.state.view(np.uint32).reshape(*lead, 2 * self.nstate).copy()
        views = [batch.bind(name) for name in ("qpos", "qvel", *self.fields)]
        return (rows, *(np.asarray(v, np.float32).reshape(*lead, *v.shape[1:]) for v in views))

    def _host_make(self, qpos: np.ndarray, qvel: np.ndarray) -> tuple[np.ndarray, ...]:
        lead, (qpos, qvel) = _flat(qpos, qvel)
        with self._lock:
            batch = self._batch(len(qpos))
            batch.state[:] = self.initial_row
            batch.bind("qpos")[:] = qpos
            batch.bind("qvel")[:] = qvel
            batch.forward()
            outputs = self._outputs(batch, lead)
        WARNINGS.report()
        return outputs

    def _host_step(self, rows: np.ndarray, ctrl: np.ndarray, *eq_active: np.ndarray
                   ) -> tuple[np.ndarray, ...]:
        lead, (rows, ctrl, *eq_active) = _flat(rows, ctrl, *eq_active)
        with self._lock:
            batch = self._batch(len(rows))
            batch.state[:] = np.ascontiguousarray(rows).view(np.float64)
            batch.bind("ctrl")[:] = ctrl
            for active in eq_active:  # part of the state row: checkpoints keep it
                batch.bind("eq_active")[:] = active
            # Counted from zero at every call: the engine's reset (below) clears a row's
            # counters before it counts the new warning, so a second blow-up in a row whose
            # counter already stood at 1 would leave it at 1 and go unseen.
            batch.warning[:, UNSTABLE, 1] = 0
            # A simulation MuJoCo raised in keeps its state; batch.status names it.
            with contextlib.suppress(batch_module().SimulationError):
                batch.step(nstep=self.n_frames)
            # The C engine answers an unstable simulation (NaN, inf or huge values) with a
            # warning and a reset to the model's defaults. Marked non-finite instead, so that
            # Env.step's guard cuts the episode, as it does for a diverged MJX env (and a
            # diverged state stepped on stays diverged: NaN in, a reset and a warning out).
            diverged = np.any(batch.warning[:, UNSTABLE, 1] > 0, axis=1) | (batch.status != 0)
            batch.bind("qpos")[diverged] = np.nan
            outputs = self._outputs(batch, lead)
        WARNINGS.report()
        return outputs

    # ----- device side
    def _result_shapes(self) -> tuple[jax.ShapeDtypeStruct, ...]:
        """One env's outputs (vmap adds the batch axes)."""
        floats = [(self.model.nq,), (self.model.nv,), *(self._shapes[f] for f in self.fields)]
        return (jax.ShapeDtypeStruct((2 * self.nstate,), jnp.uint32),
                *(jax.ShapeDtypeStruct(shape, jnp.float32) for shape in floats))

    def _wrap(self, out: tuple[jax.Array, ...]) -> NativeData:
        return NativeData(out[0], out[1], out[2], dict(zip(self.fields, out[3:], strict=True)))

    def make_data(self, qpos: jax.Array, qvel: jax.Array) -> NativeData:
        """The state at (qpos, qvel), everything else the model's defaults, with the forward
        pass run (derived fields current)."""
        out = jax.pure_callback(self._host_make, self._result_shapes(), qpos, qvel,
                                vmap_method="expand_dims")
        return self._wrap(out)

    def step(self, data: NativeData, ctrl: jax.Array, eq_active: jax.Array | None = None
             ) -> NativeData:
        """n_frames calls to mj_step with `ctrl` held (and the equality constraints switched
        to `eq_active`, if given); derived fields describe the state before the last substep,
        as after mj_step (and as after mjx.step)."""
        switched = () if eq_active is None else (jnp.asarray(eq_active, jnp.float32),)
        out = jax.pure_callback(self._host_step, self._result_shapes(), data.state,
                                jnp.asarray(ctrl, jnp.float32), *switched,
                                vmap_method="expand_dims")
        return self._wrap(out)


def batch_module() -> Any:
    """`mujoco.batch` (the project's MuJoCo 3.17 has it), imported when first needed: the rest
    of the envs, MJX included, runs on older MuJoCo releases too (brax's benchmark venv)."""
    try:
        from mujoco import batch
    except ImportError:
        raise ImportError(f"--physics native needs MuJoCo's batch module (the project's 3.17 "
                          f"has it; this is {mujoco.__version__}): install the project's "
                          "pins, or use --physics mjx") from None
    return batch


def _flat(*arrays: np.ndarray) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """The common leading shape of a callback's batched arguments (vmap gives an argument it
    does not map a size-1 axis), and each argument as (n, its last axis)."""
    lead = np.broadcast_shapes(*(a.shape[:-1] for a in arrays))
    n = int(np.prod(lead, dtype=np.int64))
    return lead, [np.broadcast_to(a, (*lead, a.shape[-1])).reshape(n, a.shape[-1])
                  for a in arrays]


def field(data: Any, name: str) -> jax.Array:
    """A field of either engine's data by its MuJoCo name (mjx keeps some in `_impl`, and
    warns when they are read from `Data` itself)."""
    if isinstance(data, NativeData):
        return data.fields[name]
    impl = getattr(data, "_impl", None)
    if impl is not None and hasattr(impl, name):
        return getattr(impl, name)
    return getattr(data, name)
