"""What a reward program may call, and Python/NumPy value semantics in JAX.

Values inside the lowering are: Python scalars and strings (static, folded at trace time),
JAX arrays, and tuples/lists/dicts of values. Every allowed NumPy, math and builtin name maps to
a function here; everything else is rejected by the checker. Python's own semantics are kept
where they differ from jnp's, e.g. `max(0, nan)` is 0 in Python but nan in `jnp.maximum`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lamour_jax.transpile.budget import (
    LIMITS,
    charge_ops,
    check_elements,
    check_int_bits,
    check_loop,
    check_sequence,
    check_shape,
    leaves,
)
from lamour_jax.transpile.errors import RewardCodeError

MAX_UNROLL = LIMITS.loop_items  # longest loop or sequence a program may unroll
MAX_ROUND_DIGITS = 64  # round(x, n): Python computes 10**|n| for integers

STATIC = (bool, int, float)


def is_static(value: Any) -> bool:
    return isinstance(value, STATIC)


def is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def check_int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        check_int_bits(value.bit_length())
    return value


def _float_to_int(value: float) -> int:
    """int(value) for a float, refused before Python builds a huge integer."""
    if not math.isfinite(value):
        raise RewardCodeError("int() of inf or nan")
    if abs(value) >= 2.0**LIMITS.int_bits:
        check_int_bits(int(math.log2(abs(value))) + 1, "int() of a float")
    return int(value)


def limit_size(value: Any) -> Any:
    """Count one traced operation and check its result's size. During lowering every array
    is abstract (a tracer), so this runs before anything of that size exists."""
    charge_ops()
    if is_array(value):
        check_elements(value.size)
    return value


def _abstract(value: Any) -> Any:
    return jax.ShapeDtypeStruct(np.shape(value), jnp.result_type(value)) if (
        is_array(value)) else value


def precheck(fn: Callable, *args: Any, **kwargs: Any) -> None:
    """The size of `fn(*args, **kwargs)` from shapes alone (`jax.eval_shape`), checked before
    the call: for operations whose result can be far larger than their inputs."""
    arrays = [i for i, a in enumerate(args) if is_array(a)]

    def on_shapes(*shaped: Any) -> Any:
        full = list(args)
        for i, value in zip(arrays, shaped, strict=True):
            full[i] = value
        return fn(*full, **kwargs)

    try:
        out = jax.eval_shape(on_shapes, *[_abstract(args[i]) for i in arrays])
    except (TypeError, ValueError):
        return  # the call itself will raise the error, with NumPy's wording
    for leaf in jax.tree.leaves(out):
        check_shape(leaf.shape)


def _broadcast_check(*values: Any) -> None:
    """Elementwise operations: the result has the broadcast shape of the operands."""
    shapes = [np.shape(v) for v in values if is_array(v)]
    if len(shapes) > 1:
        try:
            check_shape(np.broadcast_shapes(*shapes))
        except ValueError:
            return  # incompatible shapes: the operation raises NumPy's error


def to_array(value: Any) -> jnp.ndarray:
    """A value as a JAX array; lists and tuples are stacked like np.array would."""
    if isinstance(value, list | tuple):
        if not value:
            return jnp.zeros((0,), jnp.float32)
        check_elements(leaves(value), "an array from a list")
        charge_ops(len(value))
        return jnp.stack(jnp.broadcast_arrays(*[to_array(v) for v in value]))
    if isinstance(value, dict | str) or value is None:
        raise RewardCodeError(f"expected a number or an array, got {type(value).__name__}")
    return jnp.asarray(value)


def length(value: Any) -> int:
    if isinstance(value, list | tuple | dict | range):
        return len(value)
    if is_array(value) and value.ndim >= 1:
        return int(value.shape[0])
    raise RewardCodeError(f"len() of a {type(value).__name__} without length")


def iterate(value: Any) -> list[Any]:
    """The items a for-loop or comprehension visits; the count must be static and small."""
    if isinstance(value, dict | list | tuple | range):
        items = list(value)
    elif is_array(value):
        if value.ndim == 0:
            raise RewardCodeError("cannot iterate over a scalar")
        check_loop(value.shape[0])
        charge_ops(value.shape[0])
        items = [value[i] for i in range(value.shape[0])]
    else:
        raise RewardCodeError(f"cannot iterate over a {type(value).__name__}")
    check_loop(len(items))
    return items


def truthy(value: Any) -> Any:
    """Python truthiness: a static bool, or a traced bool scalar."""
    if is_static(value) or isinstance(value, str):
        return bool(value)
    if isinstance(value, list | tuple | dict):
        return len(value) > 0
    if value is None:
        return False
    if value.size != 1:
        raise RewardCodeError(f"the truth value of an array of shape {tuple(value.shape)} is "
                              "ambiguous; use np.any(...) or np.all(...)")
    value = value.reshape(())
    return value if value.dtype == jnp.bool_ else value != 0


def logical_not(value: Any) -> Any:
    cond = truthy(value)
    return (not cond) if isinstance(cond, bool) else jnp.logical_not(cond)


def select(cond: Any, if_true: Any, if_false: Any) -> Any:
    """`if_true if cond else if_false`, elementwise over matching structures."""
    if isinstance(cond, bool):
        return if_true if cond else if_false
    if isinstance(if_true, dict) and isinstance(if_false, dict):
        keys = list(dict.fromkeys([*if_false, *if_true]))
        return {k: select(cond, if_true.get(k, 0.0), if_false.get(k, 0.0)) for k in keys}
    if isinstance(if_true, list | tuple) or isinstance(if_false, list | tuple):
        if (type(if_true) is not type(if_false)) or len(if_true) != len(if_false):
            raise RewardCodeError("a variable holds sequences of different lengths on different "
                                  "branches of a condition that depends on the state")
        return type(if_true)(select(cond, a, b) for a, b in zip(if_true, if_false, strict=True))
    if isinstance(if_true, str) or isinstance(if_false, str):
        if if_true == if_false:
            return if_true
        raise RewardCodeError("a string value depends on the state")
    if if_true is None or if_false is None:
        if if_true is if_false:
            return None
        raise RewardCodeError("a value is None on one branch and a number on another")
    if is_static(if_true) and is_static(if_false) and if_true == if_false and type(
            if_true) is type(if_false):
        return if_true
    _broadcast_check(cond, if_true, if_false)
    return limit_size(jnp.where(cond, if_true, if_false))


# ---------------------------------------------------------------------------------------------
# Operators

def _exact_float_compare(op: str, x: jnp.ndarray, c: float) -> jnp.ndarray | None:
    """Compare float32 `x` with a Python float exactly as float64 would.

    `x >= 0.7` in float64 is False for x = float32(0.7), which is 0.69999999; comparing in
    float32 says True. For a float32 x the float64 answer is decided by a float32 threshold one
    side or the other of c, so thresholds in the source behave as they do in NumPy.
    """
    if x.dtype != jnp.float32 or not math.isfinite(c):
        return None
    c32 = float(np.float32(c))
    if c32 == c:
        return None
    above = c32 > c  # the nearest float32 lies above the true threshold
    table = {
        ">": (x >= c32) if above else (x > c32),
        ">=": (x >= c32) if above else (x > c32),
        "<": (x < c32) if above else (x <= c32),
        "<=": (x < c32) if above else (x <= c32),
        "==": jnp.zeros_like(x, dtype=bool),
        "!=": jnp.ones_like(x, dtype=bool),
    }
    return table[op]


_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
            "==": operator.eq, "!=": operator.ne}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def compare(op: str, a: Any, b: Any) -> Any:
    if is_static(a) and is_static(b):
        return _COMPARE[op](a, b)
    if isinstance(a, str | dict | list | tuple) or isinstance(b, str | dict | list | tuple):
        if op in ("==", "!=") and isinstance(a, str) and isinstance(b, str):
            return _COMPARE[op](a, b)
        # Only a list against an array compares (elementwise, as NumPy); anything else
        # involving a list, a string or a dict is a TypeError in Python too.
        if not (isinstance(a, list | tuple) and is_array(b)
                or is_array(a) and isinstance(b, list | tuple)):
            raise RewardCodeError(f"cannot compare {type(a).__name__} with "
                                  f"{type(b).__name__}")
        a = to_array(a) if isinstance(a, list | tuple) else a
        b = to_array(b) if isinstance(b, list | tuple) else b
    if isinstance(b, float) and is_array(a):
        exact = _exact_float_compare(op, a, b)
        if exact is not None:
            return limit_size(exact)
    if isinstance(a, float) and is_array(b):
        exact = _exact_float_compare(_FLIP[op], b, a)
        if exact is not None:
            return limit_size(exact)
    _broadcast_check(a, b)
    return limit_size(_COMPARE[op](jnp.asarray(a), b))


def _float32_split(c: float) -> tuple[float, float] | None:
    """c = hi + lo with hi, lo float32 (lo None-worthy when c is a float32 already)."""
    if not math.isfinite(c):
        return None
    with np.errstate(over="ignore"):
        hi = float(np.float32(c))
    if hi == c or not math.isfinite(hi):
        return None
    return hi, float(np.float32(c - hi))


def _add_literal(x: jnp.ndarray, c: float, sign: float, x_sign: float = 1.0) -> Any:
    """`x_sign * x + sign * c` for float32 `x` and a Python float `c`, computed as
    `(x_sign * x + sign * hi) + sign * lo`: near the threshold `x - hi` is exact in float32,
    so `x - 0.7 >= 0` decides as float64 would, as `x >= 0.7` does. Two operations."""
    split = _float32_split(c) if x.dtype == jnp.float32 else None
    if split is None:
        literal = jnp.float32(sign * c) if x.dtype == jnp.float32 else sign * c
        return x + literal if x_sign > 0 else literal - x
    hi, lo = (jnp.float32(sign * part) for part in split)
    charge_ops()
    return (x + hi if x_sign > 0 else hi - x) + lo


def _static_pow(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        check_int_bits(math.ceil(b * math.log2(abs(a))), "an integer power")
    return a**b


def _static_mul(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        check_int_bits(abs(a).bit_length() + abs(b).bit_length(), "an integer product")
    return a * b


def _repeat(seq: list | tuple, times: int) -> list | tuple:
    """`[...] * n` as Python does, sized before it is built."""
    if isinstance(times, bool) or not isinstance(times, int):
        raise RewardCodeError("a list can only be repeated an integer number of times")
    times = max(times, 0)
    check_sequence(leaves(seq) * times, "a repeated list")
    check_loop(len(seq) * times, "a repeated list")
    return seq * times


def _bitwise(op: str, a: Any, b: Any) -> Any:
    """`&`, `|`, `^` on booleans and integers, as NumPy: logical for bool arrays."""
    fn = {"&": jnp.bitwise_and, "|": jnp.bitwise_or, "^": jnp.bitwise_xor}[op]
    for value in (a, b):
        if isinstance(value, float) or (is_array(value) and not (
                jnp.issubdtype(value.dtype, jnp.integer) or value.dtype == jnp.bool_)):
            raise RewardCodeError(f"the operator {op} needs booleans or integers, not floats; "
                                  "compare first, e.g. (x > 0) & (y < 1)")
    _broadcast_check(a, b)
    return limit_size(fn(a, b))


_BINARY = {
    "+": (operator.add, jnp.add), "-": (operator.sub, jnp.subtract),
    "*": (_static_mul, jnp.multiply), "/": (operator.truediv, jnp.true_divide),
    "//": (operator.floordiv, jnp.floor_divide), "%": (operator.mod, jnp.mod),
    "**": (_static_pow, jnp.power), "@": (None, jnp.matmul),
    "&": (operator.and_, None), "|": (operator.or_, None), "^": (operator.xor, None),
}


def binary(op: str, a: Any, b: Any) -> Any:
    static_fn, array_fn = _BINARY[op]
    if is_static(a) and is_static(b) and static_fn is not None:
        if op in "&|^" and (isinstance(a, float) or isinstance(b, float)):
            raise RewardCodeError(f"the operator {op} needs booleans or integers")
        try:
            return check_int(static_fn(a, b))
        except ZeroDivisionError as exc:
            raise RewardCodeError(f"division by zero in a constant expression ({exc})") from None
        except OverflowError:
            raise RewardCodeError("numeric overflow in a constant expression") from None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and op == "+":
        if type(a) is type(b):
            check_sequence(leaves(a) + leaves(b), "a joined list")
            check_loop(len(a) + len(b), "a joined list")
            return type(a)([*a, *b])
        return binary(op, to_array(a), to_array(b))
    if op == "*" and isinstance(a, list | tuple) and is_static(b):
        return _repeat(a, b)
    if op == "*" and isinstance(b, list | tuple) and is_static(a):
        return _repeat(b, a)
    for value in (a, b):
        if isinstance(value, str | dict) or value is None:
            raise RewardCodeError(f"the operator {op} is not allowed on {type(value).__name__}")
    a = to_array(a) if isinstance(a, list | tuple) else a
    b = to_array(b) if isinstance(b, list | tuple) else b
    if op in "&|^":
        return _bitwise(op, a, b)
    if op in "+-" and is_array(a) and isinstance(b, float):
        return limit_size(_add_literal(a, b, 1.0 if op == "+" else -1.0))
    if op in "+-" and isinstance(a, float) and is_array(b):
        return limit_size(_add_literal(b, a, 1.0, 1.0 if op == "+" else -1.0))
    if op == "@":
        precheck(array_fn, a, b)
    else:
        _broadcast_check(a, b)
    if op in ("/", "//", "%", "**"):
        # NumPy float semantics: 1/0 is inf, not an exception. Python ints become floats here
        # only when the other side is an array.
        a = jnp.asarray(a, jnp.float32) if is_static(a) else a
    return limit_size(array_fn(a, b))


def unary(op: str, a: Any) -> Any:
    if op == "not":
        return logical_not(a)
    if op == "~":
        if is_static(a):
            if isinstance(a, float):
                raise RewardCodeError("the operator ~ needs a boolean or an integer")
            return ~a
        a = to_array(a) if isinstance(a, list | tuple) else a
        if a.dtype == jnp.bool_:
            return limit_size(jnp.logical_not(a))
        if not jnp.issubdtype(a.dtype, jnp.integer):
            raise RewardCodeError("the operator ~ needs booleans or integers, e.g. "
                                  "~np.isfinite(x)")
        return limit_size(jnp.invert(a))
    if is_static(a):
        return -a if op == "-" else +a
    if isinstance(a, list | tuple):
        a = to_array(a)
    return limit_size(jnp.negative(a)) if op == "-" else a


# ---------------------------------------------------------------------------------------------
# Builtins with Python semantics

def _fold_extreme(args: tuple, greater: bool, name: str) -> Any:
    items = iterate(args[0]) if len(args) == 1 else list(args)
    if not items:
        raise RewardCodeError(f"{name}() of an empty sequence")
    best = items[0]
    for item in items[1:]:
        better = compare(">" if greater else "<", item, best)
        best = select(better, item, best)
    return best


def py_max(*args: Any, **kwargs: Any) -> Any:
    if kwargs:
        raise RewardCodeError("max() keyword arguments (key=, default=) are not allowed")
    return _fold_extreme(args, True, "max")


def py_min(*args: Any, **kwargs: Any) -> Any:
    if kwargs:
        raise RewardCodeError("min() keyword arguments (key=, default=) are not allowed")
    return _fold_extreme(args, False, "min")


def py_sum(iterable: Any, start: Any = 0) -> Any:
    total = start
    for item in iterate(iterable):
        total = binary("+", total, item)
    return total


def both(a: Any, b: Any) -> Any:
    """`a and b` for conditions (static bools fold at trace time, traced ones stay traced)."""
    if a is False or b is False:
        return False
    if a is True:
        return b
    if b is True:
        return a
    return jnp.logical_and(a, b)


def either(a: Any, b: Any) -> Any:
    """`a or b` for conditions, folded like `both`."""
    if a is True or b is True:
        return True
    if a is False:
        return b
    if b is False:
        return a
    return jnp.logical_or(a, b)


def py_all(iterable: Any) -> Any:
    result: Any = True
    for item in iterate(iterable):
        result = both(result, truthy(item))
    return result


def py_any(iterable: Any) -> Any:
    result: Any = False
    for item in iterate(iterable):
        result = either(result, truthy(item))
    return result


def _scalar(value: Any, name: str) -> Any:
    if isinstance(value, list | tuple | dict | str) or value is None:
        raise RewardCodeError(f"{name}() of a {type(value).__name__} is not allowed")
    if value.size != 1:
        raise RewardCodeError(f"{name}() of an array of shape {tuple(value.shape)}: only "
                              "size-1 arrays convert to a number")
    return value.reshape(())


def py_float(value: Any = 0.0) -> Any:
    if isinstance(value, str):
        try:
            return float(value.strip()[:20])
        except ValueError:
            raise RewardCodeError(f"float({value!r}) is not a number") from None
    if is_static(value):
        return float(value)
    return _scalar(value, "float").astype(jnp.float32)


def py_int(value: Any = 0) -> Any:
    if is_static(value):
        return _float_to_int(value) if isinstance(value, float) else int(value)
    return jnp.trunc(_scalar(value, "int")).astype(jnp.int32)


def py_bool(value: Any = False) -> Any:
    return truthy(value)


def py_abs(value: Any) -> Any:
    return abs(value) if is_static(value) else jnp.abs(to_array(value))


def py_round(value: Any, ndigits: int | None = None) -> Any:
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > MAX_ROUND_DIGITS):
        raise RewardCodeError(f"round(x, ndigits) needs an integer ndigits within "
                              f"+-{MAX_ROUND_DIGITS}")
    if is_static(value):
        if ndigits is None:
            return _float_to_int(value) if isinstance(value, float) else round(value)
        return round(value, ndigits)
    return limit_size(jnp.round(to_array(value), ndigits or 0))


def py_pow(base: Any, exp: Any) -> Any:
    return binary("**", base, exp)


def py_range(*args: Any) -> range:
    if not all(isinstance(a, int) for a in args):
        raise RewardCodeError("range() arguments must be constant integers: loops need a trip "
                              "count known before the state is seen")
    result = range(*args)
    try:
        count = len(result)
    except OverflowError:  # more items than a C integer holds
        count = 2**63
    check_loop(count, "range()")
    return result


def py_enumerate(iterable: Any, start: int = 0) -> list:
    return [(start + i, item) for i, item in enumerate(iterate(iterable))]


def py_zip(*iterables: Any) -> list:
    return list(zip(*[iterate(it) for it in iterables], strict=False))


def py_list(iterable: Any = ()) -> list:
    return list(iterate(iterable))


def py_tuple(iterable: Any = ()) -> tuple:
    return tuple(iterate(iterable))


def py_dict(**kwargs: Any) -> dict:
    check_sequence(leaves(kwargs), "a dict")
    return dict(kwargs)


class ExceptionType:
    """`ValueError` and friends: only ever raised (see the lowering), never built."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RewardCodeError(f"{self.name}(...) can only be raised, not used as a value")


class TypeTag:
    """A type passed to isinstance: `np.ndarray`, `np.floating`, `float`, ..."""

    def __init__(self, name: str) -> None:
        self.name = name


_TYPE_TAGS = {"ndarray", "floating", "integer", "number", "bool_", "generic"}


def _type_name(kind: Any) -> str:
    names = {py_float: "float", py_int: "int", py_bool: "bool", py_list: "list",
             py_tuple: "tuple", py_dict: "dict"}
    if isinstance(kind, TypeTag):
        return kind.name
    if isinstance(kind, DType):
        return kind.name
    for fn, name in names.items():
        if kind is fn:
            return name
    raise RewardCodeError("isinstance() needs types such as float, int, list, np.ndarray")


def _is_instance(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return name in ("bool", "int")
    if isinstance(value, int | float):
        return name == type(value).__name__
    if isinstance(value, list | tuple | dict | str):
        return name == type(value).__name__
    if not is_array(value):
        return False
    # Arrays stand for what NumPy would hold on a float64 state: state[i] is an np.float64,
    # which is a float; a sliced or computed vector is an np.ndarray.
    floating = jnp.issubdtype(value.dtype, jnp.floating)
    integer = jnp.issubdtype(value.dtype, jnp.integer)
    if value.ndim > 0:
        return name == "ndarray"
    return {"float": floating, "floating": floating, "float64": floating,
            "integer": integer, "int64": integer, "int32": False, "float32": False,
            "number": floating or integer, "generic": True,
            "bool_": value.dtype == jnp.bool_}.get(name, False)


def py_isinstance(value: Any, kinds: Any) -> bool:
    """isinstance on the program's values, decided at trace time (a static bool)."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    return any(_is_instance(value, _type_name(k)) for k in kinds)


def math_isclose(a: Any, b: Any, rel_tol: Any = 1e-9, abs_tol: Any = 0.0) -> Any:
    """math.isclose: |a - b| <= max(rel_tol * max(|a|, |b|), abs_tol)."""
    if all(is_static(v) for v in (a, b, rel_tol, abs_tol)):
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    diff = py_abs(binary("-", a, b))
    scale = binary("*", rel_tol, py_max(py_abs(a), py_abs(b)))
    return compare("<=", diff, py_max(scale, abs_tol))


ALLOWED_BUILTINS: dict[str, Callable] = {
    "abs": py_abs, "max": py_max, "min": py_min, "sum": py_sum, "len": length,
    "float": py_float, "int": py_int, "bool": py_bool, "round": py_round, "range": py_range,
    "enumerate": py_enumerate, "zip": py_zip, "list": py_list, "tuple": py_tuple,
    "all": py_all, "any": py_any, "pow": py_pow, "dict": py_dict,
    "isinstance": py_isinstance, "True": True, "False": False, "None": None,
    **{name: ExceptionType(name) for name in (
        "ValueError", "TypeError", "RuntimeError", "ArithmeticError", "ZeroDivisionError",
        "IndexError", "KeyError", "AssertionError", "Exception")},
}


# ---------------------------------------------------------------------------------------------
# NumPy and math

_DTYPES = {"float32": jnp.float32, "float64": jnp.float32, "float_": jnp.float32,
           "double": jnp.float32, "int32": jnp.int32, "int64": jnp.int32, "int_": jnp.int32,
           "bool_": jnp.bool_}


class DType:
    """`np.float64` and friends: a cast when called, a dtype when passed as `dtype=`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _DTYPES[name]

    def __call__(self, value: Any = 0) -> Any:
        return to_array(value).astype(self.dtype)


def _dtype_kwargs(kwargs: dict) -> dict:
    out = dict(kwargs)
    if "dtype" in out:
        dt = out["dtype"]
        if isinstance(dt, str) and dt in _DTYPES:  # dtype="float64", as NumPy accepts
            out["dtype"] = _DTYPES[dt]
        elif isinstance(dt, DType):
            out["dtype"] = dt.dtype
        elif dt is py_float:
            out["dtype"] = jnp.float32
        elif dt is py_int:
            out["dtype"] = jnp.int32
        elif dt is py_bool:
            out["dtype"] = jnp.bool_
        else:
            raise RewardCodeError(f"unsupported dtype {dt!r}")
    if "out" in out:
        raise RewardCodeError("the out= argument is not allowed")
    return out


# Results that can be far larger than the inputs: sized from shapes before the call. The rest
# are elementwise (the broadcast shape of their operands) or shrink their input.
_EXPANDING = {"outer", "tile", "repeat", "dot", "vdot", "inner", "matmul", "cross", "interp",
              "concatenate", "stack", "hstack", "vstack", "full_like", "reshape", "cumsum",
              "diff", "expand_dims", "atleast_1d", "sort", "median", "transpose"}


def _numpy(fn: Callable) -> Callable:
    """Wrap a jnp function: sequences become arrays, dtypes map to float32 JAX dtypes, and
    the result's size is checked before the call."""
    expanding = getattr(fn, "__name__", "") in _EXPANDING

    def call(*args: Any, **kwargs: Any) -> Any:
        args = tuple(to_array(a) if isinstance(a, list | tuple) else a for a in args)
        kwargs = _dtype_kwargs(kwargs)
        if expanding:
            precheck(fn, *args, **kwargs)
        else:
            _broadcast_check(*args)
        return limit_size(fn(*args, **kwargs))

    call.__name__ = getattr(fn, "__name__", "numpy_function")
    return call


def _check_size(shape: Any) -> tuple:
    shape = (shape,) if isinstance(shape, int) else tuple(shape) if isinstance(
        shape, list | tuple) else None
    if shape is None or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise RewardCodeError("array shapes must be constant non-negative integers")
    check_loop(len(shape), "an array shape")
    check_shape(shape)
    return shape


def np_zeros(shape: Any, dtype: Any = None) -> Any:
    return jnp.zeros(_check_size(shape), **_dtype_kwargs({"dtype": dtype} if dtype else {}))


def np_ones(shape: Any, dtype: Any = None) -> Any:
    return jnp.ones(_check_size(shape), **_dtype_kwargs({"dtype": dtype} if dtype else {}))


def np_full(shape: Any, fill_value: Any, dtype: Any = None) -> Any:
    return jnp.full(_check_size(shape), fill_value,
                    **_dtype_kwargs({"dtype": dtype} if dtype else {}))


def np_eye(n: int, m: int | None = None, **kwargs: Any) -> Any:
    _check_size((n, m if m is not None else n))
    return limit_size(jnp.eye(n, m, **_dtype_kwargs(kwargs)))


class Finfo:
    """np.finfo(dtype): the machine limits NumPy reports for that dtype, as constants."""

    def __init__(self, dtype: Any) -> None:
        name = dtype.name if isinstance(dtype, DType) else dtype if isinstance(
            dtype, str) else "float64" if dtype is py_float else None
        if name not in ("float32", "float64", "float_", "double"):
            raise RewardCodeError("np.finfo() takes np.float32, np.float64 or float")
        info = np.finfo(np.float32 if name == "float32" else np.float64)
        self.values = {key: float(getattr(info, key)) for key in FINFO_FIELDS}


FINFO_FIELDS = ("eps", "max", "min", "tiny", "resolution", "smallest_normal", "epsneg")


def np_arange(*args: Any, **kwargs: Any) -> Any:
    if not all(is_static(a) for a in args) or not 1 <= len(args) <= 3:
        raise RewardCodeError("np.arange() takes 1 to 3 constant arguments")
    start, stop, step = (0, args[0], 1) if len(args) == 1 else (*args, 1)[:3]
    if step == 0 or not all(math.isfinite(float(a)) for a in (start, stop, step)):
        raise RewardCodeError("np.arange() needs a finite, non-zero step")
    _check_size(max(math.ceil((stop - start) / step), 0))  # the length, before NumPy builds it
    return limit_size(jnp.arange(*args, **_dtype_kwargs(kwargs)))


def np_linspace(start: Any, stop: Any, num: int = 50, **kwargs: Any) -> Any:
    if isinstance(num, bool) or not isinstance(num, int):
        raise RewardCodeError("np.linspace() needs a constant integer num")
    _check_size(num)
    return jnp.linspace(start, stop, num, **_dtype_kwargs(kwargs))


def np_array(value: Any, dtype: Any = None, **kwargs: Any) -> Any:
    array = to_array(value)
    if dtype is not None:
        array = array.astype(_dtype_kwargs({"dtype": dtype})["dtype"])
    elif jnp.issubdtype(array.dtype, jnp.floating):
        array = array.astype(jnp.float32)
    return array


def np_clip(a: Any, a_min: Any = None, a_max: Any = None, *, min: Any = None,  # noqa: A002
            max: Any = None) -> Any:  # noqa: A002
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    return jnp.clip(to_array(a), lo, hi)


def np_norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    return jnp.linalg.norm(to_array(x), ord=ord, axis=axis, keepdims=keepdims)


def np_nan_to_num(x: Any, copy: bool = True, nan: float = 0.0, posinf: Any = None,
                  neginf: Any = None) -> Any:
    return jnp.nan_to_num(to_array(x), nan=nan, posinf=posinf, neginf=neginf)


def np_round(x: Any, decimals: int = 0) -> Any:
    return jnp.round(to_array(x), decimals)


def math_log(x: Any, base: Any = None) -> Any:
    value = jnp.log(to_array(x))
    return value if base is None else value / jnp.log(to_array(base))


_NUMPY_UFUNCS = [
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh",
    "arcsinh", "arccosh", "arctanh", "hypot", "exp", "exp2", "expm1", "log", "log2", "log10",
    "log1p", "sqrt", "cbrt", "square", "abs", "absolute", "fabs", "sign", "floor", "ceil",
    "trunc", "rint", "minimum", "maximum", "fmin", "fmax", "power", "mod", "fmod", "remainder",
    "add", "subtract", "multiply", "divide", "true_divide", "negative", "reciprocal",
    "isfinite", "isnan", "isinf", "logical_and", "logical_or", "logical_not", "logical_xor",
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "where",
    "deg2rad", "rad2deg", "radians", "degrees", "copysign", "heaviside",
    "sum", "mean", "prod", "max", "min", "amax", "amin", "std", "var", "median", "all", "any",
    "argmax", "argmin", "cumsum", "dot", "vdot", "inner", "outer", "cross", "matmul",
    "concatenate", "stack", "hstack", "vstack", "reshape", "ravel", "squeeze", "expand_dims",
    "transpose", "zeros_like", "ones_like", "full_like", "average", "count_nonzero",
    "interp", "tile", "repeat", "diff", "allclose", "isclose", "atleast_1d", "sort",
]

_COMPARISON_UFUNCS = {"greater": ">", "greater_equal": ">=", "less": "<", "less_equal": "<=",
                     "equal": "==", "not_equal": "!="}
_ARITHMETIC_UFUNCS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/",
                      "true_divide": "/", "power": "**"}


def _operator_ufunc(op: str, fn: Callable) -> Callable:
    """np.greater(x, 0.7) and np.subtract(x, 0.7) decide exactly as `x > 0.7` and `x - 0.7`."""

    def call(a: Any, b: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise RewardCodeError(f"np.{fn.__name__}() keyword arguments are not allowed")
        a = to_array(a) if isinstance(a, list | tuple) else a
        b = to_array(b) if isinstance(b, list | tuple) else b
        if is_static(a) and is_static(b):
            a = jnp.asarray(a)
        return compare(op, a, b) if op in _FLIP else binary(op, a, b)

    call.__name__ = fn.__name__
    return call


NUMPY: dict[str, Any] = {name: _numpy(getattr(jnp, name)) for name in _NUMPY_UFUNCS}
NUMPY.update({name: _operator_ufunc(op, getattr(jnp, name))
              for name, op in {**_COMPARISON_UFUNCS, **_ARITHMETIC_UFUNCS}.items()})
NUMPY.update({
    "finfo": Finfo, **{name: TypeTag(name) for name in _TYPE_TAGS},
    "asarray": np_array, "array": np_array, "zeros": np_zeros, "ones": np_ones,
    "full": np_full, "eye": np_eye, "arange": np_arange, "linspace": np_linspace,
    "clip": np_clip, "nan_to_num": np_nan_to_num, "round": np_round, "around": np_round,
    "pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan, "newaxis": None,
    "euler_gamma": np.euler_gamma,
    **{name: DType(name) for name in _DTYPES},
})
NUMPY_LINALG: dict[str, Any] = {"norm": np_norm}

MATH: dict[str, Any] = {
    **{name: _numpy(getattr(jnp, jname)) for name, jname in {
        "sqrt": "sqrt", "exp": "exp", "sin": "sin", "cos": "cos", "tan": "tan",
        "asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2",
        "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "fabs": "abs", "floor": "floor",
        "ceil": "ceil", "hypot": "hypot", "degrees": "degrees", "radians": "radians",
        "copysign": "copysign", "isfinite": "isfinite", "isnan": "isnan", "isinf": "isinf",
        "log10": "log10", "log2": "log2", "log1p": "log1p", "expm1": "expm1", "pow": "power",
        "fmod": "fmod", "trunc": "trunc"}.items()},
    "log": math_log, "isclose": math_isclose,
    "pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf, "nan": math.nan,
}


def resolve_module_path(path: str) -> Any:
    """The value of an allow-listed dotted name like "numpy.linalg.norm", or None."""
    module, _, name = path.rpartition(".")
    table = {"numpy": NUMPY, "numpy.linalg": NUMPY_LINALG, "math": MATH}.get(module)
    if table is None or name not in table:
        return None
    return table[name]


def module_attribute(module: str, name: str) -> Any:
    if f"{module}.{name}" == "numpy.linalg":
        return Module("numpy.linalg")
    value = resolve_module_path(f"{module}.{name}")
    if value is None and f"{module}.{name}" not in ("numpy.newaxis",):
        raise RewardCodeError(f"`{module}.{name}` is not on the allow-list")
    return value


class Module:
    """An imported module (numpy, numpy.linalg, math) as a value."""

    def __init__(self, path: str) -> None:
        self.path = path


# ---------------------------------------------------------------------------------------------
# Methods and properties on values

def _array_method(name: str, fn: Callable) -> Callable:
    def bound(value: Any) -> Callable:
        def call(*args: Any, **kwargs: Any) -> Any:
            args = (to_array(value), *args)
            kwargs = _dtype_kwargs(kwargs)
            if name == "dot":
                precheck(fn, *args, **kwargs)
            return limit_size(fn(*args, **kwargs))
        return call
    bound.__name__ = name
    return bound


def _astype(a: Any, dtype: Any) -> Any:
    return a.astype(_dtype_kwargs({"dtype": dtype})["dtype"])


def _reshape(a: Any, *shape: Any) -> Any:
    shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
    return jnp.reshape(a, shape)


_ARRAY_METHODS = {
    "sum": jnp.sum, "mean": jnp.mean, "max": jnp.max, "min": jnp.min, "prod": jnp.prod,
    "std": jnp.std, "var": jnp.var, "any": jnp.any, "all": jnp.all, "argmax": jnp.argmax,
    "argmin": jnp.argmin, "cumsum": jnp.cumsum, "dot": jnp.dot, "clip": np_clip,
    "round": np_round, "squeeze": jnp.squeeze, "flatten": jnp.ravel, "ravel": jnp.ravel,
    "copy": lambda a: a, "astype": _astype, "reshape": _reshape,
    "item": lambda a: _scalar(a, "item"), "tolist": lambda a: iterate(a),
}
_ARRAY_PROPERTIES = {
    "shape": lambda a: tuple(int(s) for s in a.shape), "size": lambda a: int(a.size),
    "ndim": lambda a: int(a.ndim), "T": lambda a: a.T,
}
_DICT_METHODS = {"items": lambda d: (lambda: list(d.items())),
                 "keys": lambda d: (lambda: list(d.keys())),
                 "values": lambda d: (lambda: list(d.values())),
                 "get": lambda d: (lambda key, default=None: d.get(key, default))}
_LIST_METHODS = {"copy": lambda seq: (lambda: list(seq))}

METHODS = {*_ARRAY_METHODS, *_ARRAY_PROPERTIES, *_DICT_METHODS, *_LIST_METHODS, "append",
           *FINFO_FIELDS}


def value_attribute(value: Any, name: str) -> Any:
    """`value.name` for an allow-listed method or property of arrays, dicts and lists."""
    if isinstance(value, Finfo) and name in value.values:
        return value.values[name]
    if isinstance(value, dict) and name in _DICT_METHODS:
        return _DICT_METHODS[name](value)
    if isinstance(value, list) and name in _LIST_METHODS:
        return _LIST_METHODS[name](value)
    if isinstance(value, list | tuple) and (name in _ARRAY_METHODS or name in
                                            _ARRAY_PROPERTIES):
        value = to_array(value)
    if is_static(value):
        value = jnp.asarray(value)
    if is_array(value):
        if name in _ARRAY_PROPERTIES:
            return _ARRAY_PROPERTIES[name](value)
        if name in _ARRAY_METHODS:
            return _array_method(name, _ARRAY_METHODS[name])(value)
    raise RewardCodeError(f"`.{name}` is not available on a {type(value).__name__}")
