"""Lower a checked reward program to JAX by evaluating its syntax tree at trace time.

The tree is walked once per trace with JAX values in place of NumPy ones, so what jit compiles
is plain JAX with no trace of the interpreter left. Control flow that depends on the state
becomes predication: every assignment, `return`, `break` and `continue` runs under a boolean
mask (the conjunction of the enclosing conditions, minus the paths that already returned or
left the loop), and assignments under a mask are `jnp.where(mask, new, old)`. Conditions that
are known at trace time (constants, loop indices) choose a branch directly, as Python would.
Loops are unrolled; their trip count must be a small constant.

Module constants and default arguments are evaluated afresh inside every trace, like the
functions, so nothing of the program's is ever computed eagerly. All work is charged to a
`Budget` (budget.py).

`raise SomeError(...)` (and `assert`) is an input guard: reached on every path it is a
RewardCodeError at trace time (the program would always fail); under a condition that depends
on the state it is dropped, and the program carries on, since a reward has no way to fail for
one state of a batch.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp

from lamour_jax.transpile import library as lib
from lamour_jax.transpile.budget import Budget, BudgetError, check_sequence, leaves, tracing
from lamour_jax.transpile.errors import RewardCodeError
from lamour_jax.transpile.validate import ModuleInfo

MAX_CALL_DEPTH = 16
_UNSET = object()

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
           ast.Mod: "%", ast.Pow: "**", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|",
           ast.BitXor: "^"}
_UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not", ast.Invert: "~"}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
           ast.NotEq: "!="}


_and = lib.both
_or = lib.either


def _and_not(a: Any, b: Any) -> Any:
    """a and not b, for masks."""
    if b is False:
        return a
    if b is True:
        return False
    return _and(a, jnp.logical_not(b))


@contextmanager
def _located(node: ast.AST, quote: bool) -> Iterator[None]:
    """Errors raised while lowering `node` become RewardCodeErrors that name its line (and,
    for expressions, quote it): what the model reads in a repair request."""
    try:
        yield
    except RewardCodeError as exc:
        if exc.line is None:
            raise exc.at_line(getattr(node, "lineno", None)) from None
        raise
    except (TypeError, ValueError, IndexError, KeyError, ArithmeticError) as exc:
        message = str(exc).strip().split("\n")[0] or type(exc).__name__
        where = f"`{ast.unparse(node)[:60]}`: " if quote else ""
        raise RewardCodeError(f"{where}{type(exc).__name__}: {message}", node) from None


@dataclass
class UserFunction:
    node: ast.FunctionDef
    defaults: list[Any]


@dataclass
class Masked:
    """A comprehension filtered by a state-dependent condition: items with a keep-mask each."""

    items: list[Any]
    keep: list[Any]


@dataclass
class _Loop:
    broken: Any = False
    continued: Any = False


@dataclass
class _Frame:
    env: dict[str, Any]
    returned: Any = False
    value: Any = _UNSET
    loops: list[_Loop] = field(default_factory=list)
    # Applied to every returned value, so that returns of different forms (a bare total and a
    # (total, components) pair) merge into one structure.
    normalise: Callable[[Any], Any] | None = None

    def active(self, path: Any) -> Any:
        mask = _and_not(path, self.returned)
        if self.loops:
            loop = self.loops[-1]
            mask = _and_not(_and_not(mask, loop.broken), loop.continued)
        return mask

    def assign(self, name: str, value: Any, mask: Any) -> None:
        if mask is True or name not in self.env:
            self.env[name] = value
        else:
            self.env[name] = lib.select(mask, value, self.env[name])


def _reduce_masked(name: str, seq: Masked, start: Any = 0) -> Any:
    if name == "sum":
        total = start
        for item, keep in zip(seq.items, seq.keep, strict=True):
            total = lib.binary("+", total, lib.select(keep, item, 0.0))
        return total
    if name == "len":
        return lib.py_sum([lib.select(k, 1, 0) for k in seq.keep])
    if name in ("any", "all"):
        result: Any = name == "all"
        for item, keep in zip(seq.items, seq.keep, strict=True):
            cond = lib.truthy(item)
            if name == "any":
                result = _or(result, _and(keep, cond))
            else:
                result = _and(result, _or(lib.logical_not(keep), cond))
        return result
    raise RewardCodeError(f"{name}() over a comprehension whose `if` depends on the state is "
                          "not supported; use np.where to mask the values instead")


class Lowering:
    """Evaluates a checked module's functions on JAX values."""

    def __init__(self, info: ModuleInfo) -> None:
        self.info = info
        self.depth = 0
        self.line: int | None = None  # the line being lowered, for errors from below
        self.budget = Budget()
        self.globals: dict[str, Any] = {}

    def _module_scope(self) -> None:
        """Imports, constants and functions with their defaults, evaluated in order as
        Python would at import time, but inside the current trace."""
        self.globals = {}
        for alias, path in self.info.modules.items():
            self.globals[alias] = lib.Module(path)
        for name, path in self.info.imported.items():
            self.globals[name] = lib.resolve_module_path(path)
        for name in self.info.typing_names:
            self.globals[name] = None
        frame = _Frame(env=self.globals)
        for stmt in self.info.constants:
            self.exec_stmt(stmt, frame, True)
        for name, fn in self.info.functions.items():
            defaults = [self.eval(d, frame) for d in fn.args.defaults]
            self.globals[name] = UserFunction(fn, defaults)

    # -- entry ------------------------------------------------------------------------------
    def call(self, name: str, *args: Any, normalise: Callable[[Any], Any] | None = None) -> Any:
        """Lower `name(*args)` within a fresh budget; every failure is a RewardCodeError."""
        self.budget, self.depth, self.line = Budget(), 0, None
        try:
            with tracing(self.budget):
                self._module_scope()
                return self.call_user(self.globals[name], list(args), {}, None, normalise)
        except RewardCodeError:
            raise
        except RecursionError:
            raise BudgetError("syntax_depth", "expressions and helper calls nest too deeply "
                              "to lower", line=self.line) from None
        except MemoryError:
            raise RewardCodeError("the program needs more memory than the transpiler has",
                                  line=self.line) from None
        except Exception as exc:  # an internal error: the cause is kept for debugging
            raise RewardCodeError(f"the transpiler failed on this construct ({type(exc).__name__}"
                                  f": {str(exc).splitlines()[0] if str(exc) else ''}); "
                                  "rewrite it more plainly", line=self.line) from exc

    def call_user(self, fn: UserFunction, args: list, kwargs: dict, node: ast.AST | None,
                  normalise: Callable[[Any], Any] | None = None) -> Any:
        params = [a.arg for a in fn.node.args.args]
        if len(args) > len(params):
            raise RewardCodeError(f"`{fn.node.name}` takes {len(params)} arguments, "
                                  f"{len(args)} given", node)
        env = dict(zip(params, args, strict=False))
        for key, value in kwargs.items():
            if key not in params or key in env:
                raise RewardCodeError(f"`{fn.node.name}` got an unexpected or repeated keyword "
                                      f"argument `{key}`", node)
            env[key] = value
        first_default = len(params) - len(fn.defaults)
        for i, param in enumerate(params):
            if param not in env:
                if i < first_default:
                    raise RewardCodeError(f"`{fn.node.name}` is missing the argument `{param}`",
                                          node)
                env[param] = fn.defaults[i - first_default]
        self.budget.charge_call()
        self.depth += 1
        if self.depth > MAX_CALL_DEPTH:
            raise RewardCodeError("helper functions nest too deeply", node)
        try:
            frame = _Frame(env=env, normalise=normalise)
            self.exec_block(fn.node.body, frame, True)
        finally:
            self.depth -= 1
        if frame.value is _UNSET:
            raise RewardCodeError(f"`{fn.node.name}` returned no value", fn.node)
        return frame.value

    # -- statements ---------------------------------------------------------------------------
    def exec_block(self, body: list[ast.stmt], frame: _Frame, path: Any) -> None:
        for stmt in body:
            if frame.active(path) is False:
                return  # everything after a return/break/continue on every path is dead
            self.exec_stmt(stmt, frame, path)

    def exec_stmt(self, stmt: ast.stmt, frame: _Frame, path: Any) -> None:
        self.line = stmt.lineno
        with _located(stmt, quote=False):
            self.budget.charge_steps()
            self._exec(stmt, frame, path)

    def _exec(self, stmt: ast.stmt, frame: _Frame, path: Any) -> None:
        mask = frame.active(path)
        if isinstance(stmt, ast.Assign):
            value = self.eval(stmt.value, frame)
            for target in stmt.targets:
                self.assign(target, value, frame, mask)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.assign(stmt.target, self.eval(stmt.value, frame), frame, mask)
        elif isinstance(stmt, ast.AugAssign):
            current = self.eval(self._as_load(stmt.target), frame)
            value = lib.binary(_BINOPS[type(stmt.op)], current, self.eval(stmt.value, frame))
            self.assign(stmt.target, value, frame, mask)
        elif isinstance(stmt, ast.Return):
            if stmt.value is None:
                raise RewardCodeError("`return` needs a value")
            value = self.eval(stmt.value, frame)
            if frame.normalise is not None:
                value = frame.normalise(value)
            frame.value = value if frame.value is _UNSET else lib.select(mask, value, frame.value)
            frame.returned = _or(frame.returned, mask)
        elif isinstance(stmt, ast.If):
            cond = lib.truthy(self.eval(stmt.test, frame))
            if isinstance(cond, bool):
                self.exec_block(stmt.body if cond else stmt.orelse, frame, path)
            else:
                self.exec_block(stmt.body, frame, _and(path, cond))
                self.exec_block(stmt.orelse, frame, _and_not(path, cond))
        elif isinstance(stmt, ast.For):
            items = lib.iterate(self.eval(stmt.iter, frame))
            loop = _Loop()
            frame.loops.append(loop)
            try:
                for item in items:
                    body_mask = frame.active(path)
                    if body_mask is False:
                        break
                    self.budget.charge_steps()
                    self.assign(stmt.target, item, frame, body_mask)
                    self.exec_block(stmt.body, frame, path)
                    loop.continued = False
            finally:
                frame.loops.pop()
        elif isinstance(stmt, ast.Break | ast.Continue):
            if not frame.loops:
                raise RewardCodeError("break/continue outside a loop")
            loop = frame.loops[-1]
            if isinstance(stmt, ast.Break):
                loop.broken = _or(loop.broken, mask)
            else:
                loop.continued = _or(loop.continued, mask)
        elif isinstance(stmt, ast.Expr):
            self._exec_expression_statement(stmt, frame, mask)
        elif isinstance(stmt, ast.Raise):
            call = stmt.exc if isinstance(stmt.exc, ast.Call) else None
            name = ast.unparse(call.func if call else stmt.exc)
            self._exec_raise(name, call.args if call else [], mask)
        elif isinstance(stmt, ast.Assert):
            cond = lib.truthy(self.eval(stmt.test, frame))
            failing = _and_not(mask, cond) if not isinstance(cond, bool) else (
                mask if not cond else False)
            self._exec_raise("AssertionError", [stmt.msg] if stmt.msg else [], failing)
        elif isinstance(stmt, ast.Pass):
            pass
        else:  # the checker admits nothing else
            raise RewardCodeError(f"`{type(stmt).__name__}` is not supported")

    @staticmethod
    def _exec_raise(name: str, args: list[ast.expr], mask: Any) -> None:
        """Raised on every path: the program always fails here. Under a state-dependent
        condition: dropped (see the module docstring). The arguments are never evaluated."""
        if mask is not True:
            return
        message = args[0].value if args and isinstance(args[0], ast.Constant) else ""
        raise RewardCodeError(f"the program raises {name}({str(message)[:200]!r}) for every "
                              "state of this size; it must return a value")

    def _exec_expression_statement(self, stmt: ast.Expr, frame: _Frame, mask: Any) -> None:
        call = stmt.value
        if isinstance(call, ast.Constant):
            return  # docstring
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr == "append" and isinstance(call.func.value, ast.Name)):
            name = call.func.value.id
            target = frame.env.get(name)
            if not isinstance(target, list):
                raise RewardCodeError(f"`{name}.append`: `{name}` is not a list")
            if mask is not True:
                raise RewardCodeError(f"`{name}.append(...)` under a condition that depends on "
                                      "the state: the list length must not depend on the "
                                      "state; append unconditionally and use np.where")
            if len(call.args) != 1 or call.keywords:
                raise RewardCodeError("append() takes exactly one argument")
            item = self.eval(call.args[0], frame)
            lib.check_loop(len(target) + 1, "a list")
            check_sequence(leaves(target) + leaves(item))
            frame.env[name] = [*target, item]
            return
        self.eval(call, frame)  # a pure call whose value is dropped

    @staticmethod
    def _as_load(target: ast.expr) -> ast.expr:
        node = copy.deepcopy(target)
        for child in ast.walk(node):
            if hasattr(child, "ctx"):
                child.ctx = ast.Load()
        return node

    def assign(self, target: ast.expr, value: Any, frame: _Frame, mask: Any) -> None:
        if isinstance(target, ast.Name):
            frame.assign(target.id, value, mask)
        elif isinstance(target, ast.Tuple | ast.List):
            items = lib.iterate(value)
            if len(items) != len(target.elts):
                raise RewardCodeError(f"cannot unpack {len(items)} values into "
                                      f"{len(target.elts)} names", target)
            for element, item in zip(target.elts, items, strict=True):
                self.assign(element, item, frame, mask)
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            name = target.value.id
            if name not in frame.env:
                raise RewardCodeError(f"`{name}` is not a local variable", target)
            container = frame.env[name]
            index = self.eval_index(target.slice, frame)
            frame.assign(name, self.setitem(container, index, value), mask)
        else:
            raise RewardCodeError(f"cannot assign to `{ast.unparse(target)}`", target)

    @staticmethod
    def setitem(container: Any, index: Any, value: Any) -> Any:
        if isinstance(container, dict):
            if not isinstance(index, str):
                raise RewardCodeError("dict keys must be constant strings")
            return {**container, index: value}
        if isinstance(container, list):
            if not isinstance(index, int):
                raise RewardCodeError("list indices in assignments must be constant integers")
            updated = list(container)
            updated[index] = value
            return updated
        if lib.is_array(container):
            return container.at[index].set(value)
        raise RewardCodeError(f"cannot assign items of a {type(container).__name__}")

    # -- expressions --------------------------------------------------------------------------
    def eval(self, node: ast.expr, frame: _Frame) -> Any:
        self.line = getattr(node, "lineno", self.line)
        with _located(node, quote=True):
            return self._eval(node, frame)

    def _eval(self, node: ast.expr, frame: _Frame) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.lookup(node.id, frame)
        if isinstance(node, ast.Attribute):
            base = self.eval(node.value, frame)
            if isinstance(base, lib.Module):
                return lib.module_attribute(base.path, node.attr)
            return lib.value_attribute(base, node.attr)
        if isinstance(node, ast.Call):
            return self.eval_call(node, frame)
        if isinstance(node, ast.BinOp):
            return lib.binary(_BINOPS[type(node.op)], self.eval(node.left, frame),
                              self.eval(node.right, frame))
        if isinstance(node, ast.UnaryOp):
            return lib.unary(_UNARY[type(node.op)], self.eval(node.operand, frame))
        if isinstance(node, ast.BoolOp):
            return self.eval_boolop(node, frame)
        if isinstance(node, ast.Compare):
            left = self.eval(node.left, frame)
            result: Any = True
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self.eval(comparator, frame)
                result = _and(result, lib.compare(_CMPOPS[type(op)], left, right))
                left = right
            return result
        if isinstance(node, ast.IfExp):
            cond = lib.truthy(self.eval(node.test, frame))
            if isinstance(cond, bool):
                return self.eval(node.body if cond else node.orelse, frame)
            return lib.select(cond, self.eval(node.body, frame), self.eval(node.orelse, frame))
        if isinstance(node, ast.Subscript):
            return self.getitem(self.eval(node.value, frame), self.eval_index(node.slice, frame))
        if isinstance(node, ast.Tuple | ast.List):
            items = [self.eval(e, frame) for e in node.elts]
            check_sequence(leaves(items))
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.Dict):
            out = {}
            for key, value in zip(node.keys, node.values, strict=True):
                key_value = self.eval(key, frame) if key is not None else None
                if not isinstance(key_value, str):
                    raise RewardCodeError("dict keys must be constant strings", node)
                out[key_value] = self.eval(value, frame)
            check_sequence(leaves(out), "a dict")
            return out
        if isinstance(node, ast.ListComp | ast.GeneratorExp):
            return self.eval_comprehension(node, frame)
        raise RewardCodeError(f"`{type(node).__name__}` is not supported", node)

    def lookup(self, name: str, frame: _Frame) -> Any:
        if name in frame.env:
            return frame.env[name]
        if name in self.globals:
            return self.globals[name]
        if name in lib.ALLOWED_BUILTINS:
            return lib.ALLOWED_BUILTINS[name]
        raise RewardCodeError(f"the name `{name}` is not defined")

    def eval_boolop(self, node: ast.BoolOp, frame: _Frame) -> Any:
        """`a and b` / `a or b` return an operand, as in Python; traced ones become where."""
        result = self.eval(node.values[0], frame)
        for operand in node.values[1:]:
            cond = lib.truthy(result)
            is_and = isinstance(node.op, ast.And)
            if isinstance(cond, bool):
                if cond == is_and:
                    result = self.eval(operand, frame)
                continue
            other = self.eval(operand, frame)
            result = lib.select(cond, other, result) if is_and else lib.select(cond, result,
                                                                                other)
        return result

    def eval_call(self, node: ast.Call, frame: _Frame) -> Any:
        func = self.eval(node.func, frame)
        args = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                args.extend(lib.iterate(self.eval(arg.value, frame)))
            else:
                args.append(self.eval(arg, frame))
        kwargs = {k.arg: self.eval(k.value, frame) for k in node.keywords if k.arg is not None}
        if len(kwargs) != len(node.keywords):
            raise RewardCodeError("**kwargs in calls are not allowed", node)
        if isinstance(func, UserFunction):
            return self.call_user(func, args, kwargs, node)
        name = ast.unparse(node.func)
        masked = [a for a in args if isinstance(a, Masked)]
        if masked:
            if func in (lib.py_sum, lib.py_any, lib.py_all, lib.length) and len(args) <= 2:
                short = {lib.py_sum: "sum", lib.py_any: "any", lib.py_all: "all",
                         lib.length: "len"}[func]
                return _reduce_masked(short, args[0], *args[1:])
            raise RewardCodeError(f"`{name}` over a comprehension whose `if` depends on the "
                                  "state is not supported; use np.where instead", node)
        if not callable(func):
            raise RewardCodeError(f"`{name}` is not callable", node)
        return func(*args, **kwargs)

    def eval_comprehension(self, node: ast.ListComp | ast.GeneratorExp, frame: _Frame) -> Any:
        local = _Frame(env=dict(frame.env))
        items: list[Any] = []
        keeps: list[Any] = []

        def walk(level: int, keep: Any) -> None:
            if level == len(node.generators):
                items.append(self.eval(node.elt, local))
                keeps.append(keep)
                return
            gen = node.generators[level]
            if gen.is_async:
                raise RewardCodeError("async comprehensions are not allowed", node)
            for item in lib.iterate(self.eval(gen.iter, local)):
                self.assign(gen.target, item, local, True)
                cond = keep
                for test in gen.ifs:
                    cond = _and(cond, lib.truthy(self.eval(test, local)))
                self.budget.charge_steps()
                if cond is not False:
                    walk(level + 1, cond)

        walk(0, True)
        check_sequence(leaves(items), "a comprehension")
        if all(k is True for k in keeps):
            return items
        return Masked(items, keeps)

    def eval_index(self, node: ast.expr, frame: _Frame) -> Any:
        if isinstance(node, ast.Slice):
            parts = [self.eval(p, frame) if p is not None else None
                     for p in (node.lower, node.upper, node.step)]
            if not all(p is None or isinstance(p, int) for p in parts):
                raise RewardCodeError("slice bounds must be constant integers", node)
            return slice(*parts)
        if isinstance(node, ast.Tuple):
            return tuple(self.eval_index(e, frame) for e in node.elts)
        return self.eval(node, frame)

    @staticmethod
    def getitem(value: Any, index: Any) -> Any:
        if isinstance(value, dict):
            if index not in value:
                raise RewardCodeError(f"key {index!r} not found")
            return value[index]
        if isinstance(value, list | tuple):
            if isinstance(index, int | slice):
                try:
                    return value[index]
                except IndexError:
                    raise RewardCodeError(f"index {index} out of range for a sequence of "
                                          f"length {len(value)}") from None
            value = lib.to_array(value)
        if lib.is_static(value) or value is None or isinstance(value, str):
            raise RewardCodeError(f"a {type(value).__name__} cannot be indexed")
        if isinstance(index, list):
            index = lib.to_array(index)
        _check_bounds(value.shape, index)
        return value[index]


def _check_bounds(shape: tuple, index: Any) -> None:
    """NumPy raises IndexError for a constant index out of range; JAX would clamp silently."""
    parts = index if isinstance(index, tuple) else (index,)
    axis = 0
    for part in parts:
        if part is None:
            continue
        if part is Ellipsis:
            return
        if isinstance(part, int) and not isinstance(part, bool):
            if axis >= len(shape):
                raise RewardCodeError(f"too many indices for an array of shape {tuple(shape)}")
            if not -shape[axis] <= part < shape[axis]:
                raise RewardCodeError(f"index {part} is out of range for axis {axis} of size "
                                      f"{shape[axis]}")
        axis += 1
