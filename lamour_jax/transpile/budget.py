"""The work a reward program may cause, bounded by design.

A reward program is lowered by evaluating its syntax tree with abstract JAX values in place of
the state (`jax.make_jaxpr` over shape-only inputs), so no array of the program's is ever
allocated or computed while it is checked. What remains concrete is Python-level: integers,
lists, tuples, dicts and strings the program builds, the unrolled loops and inlined helpers.
Each of those is charged to a `Budget` *before* it is built. The finished per-sample program is
then measured (`measure_jaxpr`: equations, FLOPs, largest value) before XLA ever sees it.

Every limit lives in `Limits`; an overrun is a `BudgetError`, a `RewardCodeError` that names
the limit, so a model can be told which one it hit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from jax.extend import core as jax_core

from lamour_jax.transpile.errors import RewardCodeError
from lamour_jax.transpile.limits import LIMITS, Limits


class BudgetError(RewardCodeError):
    """A reward program exceeded one of the `Limits`; `budget` is the field's name."""

    def __init__(self, budget: str, message: str, node: Any = None, line: int | None = None,
                 limit: float | None = None) -> None:
        self.budget = budget
        limit = getattr(LIMITS, budget) if limit is None else limit
        super().__init__(f"{message} (limit `{budget}`: {limit:,})", node, line)


class Budget:
    """Counters for one trace of a program; `charge_*` raise before the limit is crossed."""

    def __init__(self, limits: Limits = LIMITS) -> None:
        self.limits = limits
        self.steps = 0
        self.helper_calls = 0
        self.traced_ops = 0

    def charge_steps(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.limits.steps:
            raise BudgetError("steps", f"the program runs more than {self.limits.steps:,} "
                              "statements and loop iterations once loops are unrolled")

    def charge_call(self) -> None:
        self.helper_calls += 1
        if self.helper_calls > self.limits.helper_calls:
            raise BudgetError("helper_calls", "too many helper-function calls (each call is "
                              "inlined; calls inside loops multiply)")
        self.charge_steps()

    def charge_ops(self, n: int = 1) -> None:
        self.traced_ops += n
        if self.traced_ops > self.limits.traced_ops:
            raise BudgetError("traced_ops", "the program builds too many array operations")


# The budget of the trace in progress. Library functions charge it; it is set by `tracing`.
_ACTIVE: list[Budget] = []


def active() -> Budget | None:
    return _ACTIVE[-1] if _ACTIVE else None


class tracing:  # noqa: N801 - used as a context manager, reads as a phrase
    """`with tracing(budget): ...` makes `budget` the one library operations charge."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def __enter__(self) -> Budget:
        _ACTIVE.append(self.budget)
        return self.budget

    def __exit__(self, *exc: Any) -> None:
        _ACTIVE.pop()


def charge_ops(n: int = 1) -> None:
    budget = active()
    if budget is not None:
        budget.charge_ops(n)


# -- sizes of Python values -------------------------------------------------------------------

def check_int_bits(bits: int, what: str = "an integer") -> None:
    if bits > LIMITS.int_bits:
        raise BudgetError("int_bits", f"{what} of about {bits:,} bits")


def check_elements(count: int, what: str = "an array") -> None:
    if count > LIMITS.array_elements:
        raise BudgetError("array_elements", f"{what} of {count:,} elements")


def check_shape(shape: tuple, what: str = "an array") -> None:
    check_elements(math.prod(int(s) for s in shape), what)


def check_loop(count: int, what: str = "a loop") -> None:
    if count > LIMITS.loop_items:
        raise BudgetError("loop_items", f"{what} over {count:,} items")


def leaves(value: Any) -> int:
    """Scalars held by a Python container, nested ones counted (an array counts its size).

    The walk stops once past `sequence_items`, so it costs at most that many steps however
    often one list is shared inside another: the answer is then just "too many".
    """
    cap = LIMITS.sequence_items
    count, stack = 0, [value]
    while stack and count <= cap:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        else:
            size = getattr(item, "size", None)
            count += int(size) if isinstance(size, int) else 1
    return count


def check_sequence(count: int, what: str = "a list") -> None:
    if count > LIMITS.sequence_items:
        raise BudgetError("sequence_items", f"{what} holding {count:,} values")


# -- the finished program ---------------------------------------------------------------------

@dataclass(frozen=True)
class ProgramSize:
    equations: int
    flops: int
    largest: int  # elements of the largest value


def _sub_jaxprs(params: dict) -> list:
    found = []
    for value in params.values():
        for item in value if isinstance(value, tuple | list) else (value,):
            if isinstance(item, jax_core.ClosedJaxpr):
                found.append(item.jaxpr)
            elif isinstance(item, jax_core.Jaxpr):
                found.append(item)
    return found


def _size(var: Any) -> int:
    shape = getattr(getattr(var, "aval", None), "shape", ())
    return math.prod(shape)


# Primitives that read only the part of their input they return.
_SELECTING = {"gather", "slice", "dynamic_slice", "squeeze", "reshape", "broadcast_in_dim",
              "convert_element_type", "expand_dims", "transpose", "rev", "copy", "copy_p"}
_SORTING = {"sort", "cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp"}


def _flops(eqn: Any) -> int:
    """A per-equation cost estimate: matrix products 2MNK, sorts and scans n log n, anything
    else the larger of what it reads and what it writes."""
    out = sum(_size(v) for v in eqn.outvars)
    name = eqn.primitive.name
    if name == "dot_general":
        (contract, _), _ = eqn.params["dimension_numbers"]
        lhs_shape = eqn.invars[0].aval.shape
        return max(2 * out * math.prod(lhs_shape[i] for i in contract), 1)
    if name in _SELECTING:
        return max(out, 1)
    read = sum(_size(v) for v in eqn.invars)
    if name in _SORTING:
        return max(read * max(math.ceil(math.log2(max(read, 2))), 1), 1)
    return max(read, out, 1)


def measure_jaxpr(jaxpr: Any) -> ProgramSize:
    """Equations, estimated FLOPs and the largest value of a (closed) jaxpr, sub-jaxprs
    (jit, cond branches, loop bodies times their length) included."""
    if isinstance(jaxpr, jax_core.ClosedJaxpr):
        jaxpr = jaxpr.jaxpr
    equations = flops = largest = 0
    stack = [(jaxpr, 1)]
    while stack:
        current, repeat = stack.pop()
        for eqn in current.eqns:
            subs = _sub_jaxprs(eqn.params)
            if subs:
                times = repeat * int(eqn.params.get("length", 1) or 1)
                stack.extend((sub, times) for sub in subs)
                continue
            equations += repeat
            flops += repeat * _flops(eqn)
            largest = max(largest, *(_size(v) for v in eqn.outvars), 0)
    return ProgramSize(equations, flops, largest)


def check_program_size(size: ProgramSize) -> None:
    if size.equations > LIMITS.equations:
        raise BudgetError("equations", f"this function lowers to {size.equations:,} "
                          "operations per state")
    if size.flops > LIMITS.flops:
        raise BudgetError("flops", f"this function costs about {size.flops:,} "
                          "floating-point operations per state")
    check_elements(size.largest, "a value")
