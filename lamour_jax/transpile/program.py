"""`transpile(source) -> RewardProgram`, and candidate sets compiled into one function."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp

from lamour_jax.transpile import library as lib
from lamour_jax.transpile.budget import check_program_size, measure_jaxpr
from lamour_jax.transpile.errors import RewardCodeError
from lamour_jax.transpile.extract import extract_code, parse
from lamour_jax.transpile.lower import Lowering
from lamour_jax.transpile.validate import check_module, checked_source


def _as_scalar(value: Any, what: str) -> jnp.ndarray:
    if isinstance(value, dict | str | list | tuple) or value is None:
        raise RewardCodeError(f"{what} must be a number, got a {type(value).__name__}")
    array = jnp.asarray(value)
    if array.size != 1:
        raise RewardCodeError(f"{what} must be a scalar, got an array of shape "
                              f"{tuple(array.shape)}")
    return array.reshape(())


def _split_components(value: Any) -> tuple[Any, dict[str, Any]]:
    """`total` or `(total, {name: component})` as Eureka-style rewards return."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
        return value[0], value[1]
    return value, {}


@dataclass(frozen=True)
class RewardProgram:
    """A checked reward program as single-sample pure JAX functions (vmap them for batches).

    `source` is exactly what was checked (the extracted program, minus any dropped
    `if __name__ ...` block); `sha256` is its hash.
    """

    source: str
    sha256: str
    _lowering: Lowering = field(repr=False, compare=False)
    # (function, input shapes) whose lowered program passed the size checks.
    _sized: set = field(default_factory=set, repr=False, compare=False)

    def _run(self, name: str, *args: Any) -> Any:
        normalise = _split_components if name == "calculate_reward" else None
        return self._lowering.call(name, *args, normalise=normalise)

    def _check_size(self, name: str, fn: Callable, *args: Any) -> None:
        """Before `fn` (the lowering of the program's function `name`) runs or compiles for
        new input sizes: lower it on abstract inputs (nothing is computed) and check the
        per-state program's size and FLOPs."""
        key = (name, *(tuple(a.shape) for a in args))
        if key in self._sized:
            return
        abstract = [jax.ShapeDtypeStruct(a.shape, jnp.float32) for a in args]
        size = measure_jaxpr(jax.make_jaxpr(fn)(*abstract))
        try:
            check_program_size(size)
        except RewardCodeError as err:  # the whole function is the culprit: name its line
            raise err.at_line(self._lowering.info.functions[name].lineno) from None
        self._sized.add(key)

    def components(self, state: Any, action: Any) -> dict[str, jnp.ndarray]:
        """Every reward component as float32 scalars, with the sum under "total"."""
        state = jnp.asarray(state, jnp.float32)
        action = jnp.asarray(action, jnp.float32)
        self._check_size("calculate_reward", self._components, state, action)
        return self._components(state, action)

    def _components(self, state: Any, action: Any) -> dict[str, jnp.ndarray]:
        total, parts = self._run("calculate_reward", state, action)
        out = {name: _as_scalar(v, f"component {name!r}").astype(jnp.float32)
               for name, v in parts.items()}
        out["total"] = _as_scalar(total, "calculate_reward's result").astype(jnp.float32)
        return out

    def calculate_reward(self, state: Any, action: Any) -> jnp.ndarray:
        """The dense recovery reward of one (state, action): a float32 scalar."""
        return self.components(state, action)["total"]

    def is_recovered(self, state: Any) -> jnp.ndarray:
        """Whether the program calls `state` recovered: a bool scalar."""
        state = jnp.asarray(state, jnp.float32)
        self._check_size("is_recovered", self._is_recovered, state)
        return self._is_recovered(state)

    def _is_recovered(self, state: Any) -> jnp.ndarray:
        value = self._run("is_recovered", state)
        if isinstance(value, tuple | list | dict):
            raise RewardCodeError("is_recovered must return a number or bool, got a "
                                  f"{type(value).__name__}")
        return jnp.asarray(lib.truthy(_as_scalar(value, "is_recovered's result")))

    def component_names(self, obs_dim: int, action_dim: int) -> list[str]:
        """Names of the components the program returns (traced abstractly, nothing runs)."""
        shapes = jax.eval_shape(self.components, jax.ShapeDtypeStruct((obs_dim,), jnp.float32),
                                jax.ShapeDtypeStruct((action_dim,), jnp.float32))
        return list(shapes)

    def check_shapes(self, obs_dim: int, action_dim: int) -> None:
        """Trace both functions for these sizes (once each, abstractly) and check their size;
        raises RewardCodeError on any problem."""
        state = jax.ShapeDtypeStruct((obs_dim,), jnp.float32)
        action = jax.ShapeDtypeStruct((action_dim,), jnp.float32)
        self._check_size("calculate_reward", self._components, state, action)
        self._check_size("is_recovered", self._is_recovered, state)


def transpile(source: str | bytes, obs_dim: int | None = None,
              action_dim: int | None = None) -> RewardProgram:
    """Check and lower a reward program (a model reply, fences and prose allowed).

    The source is parsed and checked against an allow-list, never executed. With `obs_dim` and
    `action_dim` the program is also traced once for those sizes (abstractly: nothing is
    computed), so index and shape errors and the work budget surface here rather than at the
    first training step. Every failure is a RewardCodeError.
    """
    code = extract_code(source)
    tree = parse(code)
    try:
        info = check_module(tree)
    except RecursionError:  # the depth check runs first; this is a last line of defence
        raise RewardCodeError("the program nests too deeply to check") from None
    checked = checked_source(code, info)
    program = RewardProgram(source=checked,
                            sha256=hashlib.sha256(checked.encode()).hexdigest(),
                            _lowering=Lowering(info))
    if obs_dim is not None and action_dim is not None:
        program.check_shapes(obs_dim, action_dim)
    return program


@dataclass(frozen=True)
class CandidateSet:
    """Several programs as one function of an integer index (`lax.switch`).

    K candidate rewards then train in one compiled program: each vmapped policy carries its
    candidate's index. Only the total and `is_recovered` are switched, since components differ
    between programs. `state` maps the policy's observation to the vector the programs read
    (`Env.program_state`; None: the observation itself).
    """

    programs: tuple[RewardProgram, ...]
    state: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if not self.programs:
            raise ValueError("a candidate set needs at least one program")

    def __len__(self) -> int:
        return len(self.programs)

    def _branches(self, fn: Callable[[RewardProgram], Callable]) -> list[Callable]:
        return [fn(p) for p in self.programs]

    def _state(self, obs: Any) -> Any:
        return obs if self.state is None else self.state(obs)

    def calculate_reward(self, index: Any, obs: Any, action: Any) -> jnp.ndarray:
        branches = self._branches(lambda p: p.calculate_reward)
        return jax.lax.switch(index, branches, self._state(obs), action)

    def is_recovered(self, index: Any, obs: Any) -> jnp.ndarray:
        branches = self._branches(lambda p: p.is_recovered)
        return jax.lax.switch(index, branches, self._state(obs))


def candidate_set(programs: Sequence[RewardProgram],
                  state: Callable[[Any], Any] | None = None) -> CandidateSet:
    return CandidateSet(tuple(programs), state)
