"""Static allow-list check of a reward program's syntax tree, before anything is evaluated.

Everything not named here is rejected. The checks that need values (loop trip counts, array
shapes, index bounds) happen while the program is lowered to JAX, and raise the same error.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from lamour_jax.transpile.budget import LIMITS, BudgetError, check_int_bits
from lamour_jax.transpile.errors import RewardCodeError
from lamour_jax.transpile.library import (
    ALLOWED_BUILTINS,
    METHODS,
    ExceptionType,
    resolve_module_path,
)

REQUIRED = {"calculate_reward": 2, "is_recovered": 1}
ALLOWED_MODULES = {"numpy", "numpy.linalg", "math", "typing", "__future__"}

# Node types a reward program may contain. Anything else is rejected by name below.
_ALLOWED_NODES = (
    ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Return, ast.Assign, ast.AugAssign,
    ast.AnnAssign, ast.For, ast.If, ast.Expr, ast.Pass, ast.Break, ast.Continue, ast.Import,
    ast.ImportFrom, ast.alias, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Dict, ast.List,
    ast.Tuple, ast.Compare, ast.Call, ast.Constant, ast.Attribute, ast.Subscript, ast.Slice,
    ast.Name, ast.ListComp, ast.GeneratorExp, ast.comprehension, ast.keyword, ast.Load,
    ast.Store, ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
    ast.Pow, ast.MatMult, ast.USub, ast.UAdd, ast.Not, ast.Eq, ast.NotEq, ast.Lt, ast.LtE,
    ast.Gt, ast.GtE, ast.Invert, ast.BitAnd, ast.BitOr, ast.BitXor, ast.Raise, ast.Assert,
)
# Exceptions a program may raise as an input guard (see `Lowering` for what a raise does).
ALLOWED_EXCEPTIONS = {name for name, value in ALLOWED_BUILTINS.items()
                      if isinstance(value, ExceptionType)}

_WHY = {
    ast.ClassDef: "class definitions are not allowed",
    ast.Lambda: "lambda is not allowed; define a helper function with def",
    ast.While: "while loops are not allowed; use `for i in range(N)` with a constant N",
    ast.Global: "global is not allowed",
    ast.Nonlocal: "nonlocal is not allowed",
    ast.Try: "try/except is not allowed; guard values with np.isfinite / np.nan_to_num",
    ast.With: "with-statements are not allowed",
    ast.Delete: "del is not allowed",
    ast.JoinedStr: "string formatting (f-strings) is not allowed",
    ast.AsyncFunctionDef: "async functions are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.NamedExpr: "the walrus operator := is not allowed",
    ast.Starred: "star-unpacking is only allowed in call arguments, f(*values)",
    ast.Set: "sets are not allowed",
    ast.SetComp: "set comprehensions are not allowed",
    ast.DictComp: "dict comprehensions are not allowed",
    ast.Match: "match statements are not allowed",
    ast.Is: "`is` comparisons are not allowed; compare values with ==",
    ast.IsNot: "`is not` comparisons are not allowed; compare values with !=",
    ast.In: "`in` tests are not allowed",
    ast.NotIn: "`not in` tests are not allowed",
    ast.LShift: "bit shifts are not allowed",
    ast.RShift: "bit shifts are not allowed",
}

_FORBIDDEN_CALLS = {
    "exec", "eval", "open", "getattr", "setattr", "delattr", "hasattr", "globals", "locals",
    "vars", "__import__", "compile", "input", "print", "breakpoint", "help", "dir", "type",
    "object", "super", "memoryview", "bytearray", "bytes", "id", "hash", "iter", "next",
    "issubclass", "callable", "classmethod", "staticmethod", "property", "exit",
    "quit", "format", "repr", "ascii", "chr", "ord", "map", "filter", "sorted", "reversed",
}


@dataclass
class ModuleInfo:
    """What the checker learned: functions, constants, and import aliases."""

    functions: dict[str, ast.FunctionDef] = field(default_factory=dict)
    constants: list[ast.stmt] = field(default_factory=list)
    modules: dict[str, str] = field(default_factory=dict)  # alias -> dotted module path
    imported: dict[str, str] = field(default_factory=dict)  # name -> dotted attribute path
    typing_names: set[str] = field(default_factory=set)
    dropped: list[tuple[int, int]] = field(default_factory=list)  # first, last line


def checked_source(code: str, info: ModuleInfo) -> str:
    """`code` without the lines the checker dropped: exactly what was checked. Blank lines
    stand in for them, so line numbers in errors still match the model's program."""
    lines = code.split("\n")
    for first, last in info.dropped:
        lines[first - 1:last] = ["# (an `if __name__ ...` block was removed here: reward "
                                 "programs are never run as scripts)"] + [""] * (last - first)
    return "\n".join(lines).rstrip() + "\n"  # as extract_code ends a program


def _is_main_guard(stmt: ast.stmt) -> bool:
    test = getattr(stmt, "test", None)
    return (isinstance(stmt, ast.If) and isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name) and test.left.id == "__name__")


def _is_docstring(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str))


def _check_import(stmt: ast.Import | ast.ImportFrom, info: ModuleInfo) -> None:
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.name not in ALLOWED_MODULES:
                raise RewardCodeError(f"`import {alias.name}` is not allowed: only numpy, math "
                                      "and typing may be imported", stmt)
            if alias.name == "typing":
                info.typing_names.add(alias.asname or "typing")
            elif alias.asname:
                info.modules[alias.asname] = alias.name
            else:
                info.modules[alias.name.split(".")[0]] = alias.name.split(".")[0]
        return
    module = stmt.module or ""
    if stmt.level or module not in ALLOWED_MODULES:
        raise RewardCodeError(f"`from {module} import ...` is not allowed: only numpy, math "
                              "and typing may be imported", stmt)
    for alias in stmt.names:
        bound = alias.asname or alias.name
        if module in ("typing", "__future__"):
            info.typing_names.add(bound)
            continue
        path = f"{module}.{alias.name}"
        if alias.name == "*":
            raise RewardCodeError("`import *` is not allowed; import numpy as np", stmt)
        if path in ("numpy.linalg",):
            info.modules[bound] = path
        elif resolve_module_path(path) is None:
            raise RewardCodeError(f"`{path}` is not on the allow-list of functions", stmt)
        else:
            info.imported[bound] = path


def _attribute_path(node: ast.expr, info: ModuleInfo) -> str | None:
    """`np.linalg.norm` -> "numpy.linalg.norm" when the root is an imported module."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in info.modules:
        return ".".join([info.modules[node.id], *reversed(parts)])
    return None


class _Checker(ast.NodeVisitor):
    def __init__(self, info: ModuleInfo) -> None:
        self.info = info
        self.line: int | None = None  # the last line seen: operators carry none of their own

    def fail(self, message: str, node: ast.AST) -> RewardCodeError:
        return RewardCodeError(message, line=getattr(node, "lineno", None) or self.line)

    def visit(self, node: ast.AST) -> None:
        self.line = getattr(node, "lineno", self.line)
        super().visit(node)

    def generic_visit(self, node: ast.AST) -> None:
        if not isinstance(node, _ALLOWED_NODES):
            why = _WHY.get(type(node), f"`{type(node).__name__}` is not allowed in reward code")
            raise self.fail(why, node)
        line = self.line
        super().generic_visit(node)
        self.line = line

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.decorator_list:
            raise self.fail("decorators are not allowed", node)
        args = node.args
        if args.vararg or args.kwarg or args.posonlyargs or args.kwonlyargs:
            raise self.fail(f"function `{node.name}`: only plain parameters (with optional "
                            "defaults) are allowed, no *args/**kwargs", node)
        for arg in args.args:
            self.visit_annotation(arg.annotation, arg)
        self.visit_annotation(node.returns, node)
        for stmt in node.body:
            self.visit(stmt)
        for default in args.defaults:
            self.visit(default)

    def visit_annotation(self, annotation: ast.expr | None, owner: ast.AST,
                         depth: int = 0) -> None:
        """Annotations are never evaluated, but they are part of the saved program, so they
        too must be plain type expressions: names, dotted names, subscripts, `X | None`."""
        if annotation is None:
            return
        line = getattr(owner, "lineno", self.line)
        for node in ast.walk(annotation):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if depth > 0 or len(node.value) > 200:
                    raise RewardCodeError("a string annotation must be a short type name",
                                          line=line)
                try:
                    inner = ast.parse(node.value, mode="eval").body
                except (SyntaxError, ValueError, RecursionError, MemoryError):
                    raise RewardCodeError(f"the annotation {node.value!r} is not a type",
                                          line=line) from None
                self.visit_annotation(inner, owner, depth + 1)
            elif not isinstance(node, _ANNOTATION_NODES) or (
                    isinstance(node, ast.BinOp) and not isinstance(node.op, ast.BitOr)) or (
                    isinstance(node, ast.Constant) and node.value not in (None, Ellipsis)
                    and not isinstance(node.value, str)):
                raise RewardCodeError("type annotations may only name types (e.g. `float`, "
                                      "`np.ndarray`, `tuple[float, dict]`)", line=line)
            elif isinstance(node, ast.Name) and (node.id.startswith("__")
                                                 or node.id in _FORBIDDEN_CALLS):
                raise RewardCodeError(f"the name `{node.id}` is not allowed", line=line)
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                raise RewardCodeError(f"the attribute `{node.attr}` is not allowed", line=line)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if not isinstance(node.target, ast.Name):
            raise self.fail("annotated assignment must target a plain name", node)
        self.visit_annotation(node.annotation, node)
        if node.value is not None:
            self.visit(node.value)

    def visit_Expr(self, node: ast.Expr) -> None:
        if _is_docstring(node):
            return
        if not isinstance(node.value, ast.Call):
            why = _WHY.get(type(node.value), "an expression statement does nothing; remove it")
            raise self.fail(why, node)
        self.visit(node.value)

    def visit_For(self, node: ast.For) -> None:
        if node.orelse:
            raise self.fail("for-else is not allowed", node)
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        exc = node.exc
        name = exc.func if isinstance(exc, ast.Call) else exc
        if node.cause is not None or not isinstance(name, ast.Name) or (
                name.id not in ALLOWED_EXCEPTIONS):
            raise self.fail("only `raise ValueError(\"...\")` (or TypeError, RuntimeError, "
                            "...) is allowed, as an input guard", node)
        if isinstance(exc, ast.Call):
            self.generic_visit(exc)

    def visit_Import(self, node: ast.Import) -> None:
        raise self.fail("imports are only allowed at the top of the module", node)

    visit_ImportFrom = visit_Import

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name.startswith("__"):
            raise self.fail(f"the name `{name}` is not allowed (dunder names)", node)
        if name in _FORBIDDEN_CALLS:
            raise self.fail(f"`{name}` is not allowed in reward code", node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            raise self.fail(f"the attribute `{node.attr}` is not allowed (private or dunder "
                            "attribute)", node)
        path = _attribute_path(node, self.info)
        if path is not None:
            if path in self.info.modules.values() or path == "numpy.linalg":
                return
            if resolve_module_path(path) is None:
                raise self.fail(f"`{path}` is not on the allow-list of numpy/math functions",
                                node)
            return
        self.visit(node.value)  # report `open(...).write` as `open`, not as `.write`
        if node.attr not in METHODS:
            raise self.fail(f"the attribute or method `.{node.attr}` is not allowed", node)

    def visit_Call(self, node: ast.Call) -> None:
        # `f(*values)` with a sequence of constant length is fine; stars elsewhere are not.
        self.visit(node.func)
        for arg in node.args:
            self.visit(arg.value if isinstance(arg, ast.Starred) else arg)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.fail("**kwargs in calls are not allowed", node)
            self.visit(keyword.value)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bytes | complex) or value is Ellipsis:
            raise self.fail(f"the constant {value!r} is not allowed", node)
        if isinstance(value, str) and len(value) > 10_000:
            raise self.fail("string constant too long", node)
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                check_int_bits(value.bit_length(), "an integer literal")
            except RewardCodeError as exc:
                raise exc.at_line(node.lineno) from None

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) and isinstance(
                node.left.value, str):
            raise self.fail("string formatting with % is not allowed", node)
        self.generic_visit(node)


_ANNOTATION_NODES = (ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List, ast.Constant,
                     ast.BinOp, ast.BitOr, ast.Load, ast.Slice)


def _check_depth(tree: ast.AST) -> None:
    """Refuse deeply nested trees before any recursive walk (checker, lowering) meets them."""
    stack = [(tree, 1, None)]
    while stack:
        node, depth, line = stack.pop()
        line = getattr(node, "lineno", line)
        if depth > LIMITS.syntax_depth:
            raise BudgetError("syntax_depth", "an expression or block nested too deeply; "
                              "split it into several statements", line=line)
        stack.extend((child, depth + 1, line) for child in ast.iter_child_nodes(node))


def _calls(fn: ast.FunctionDef, names: set[str]) -> set[str]:
    return {n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name) and n.func.id in names}


def _check_no_recursion(info: ModuleInfo) -> None:
    names = set(info.functions)
    graph = {name: _calls(fn, names) for name, fn in info.functions.items()}
    state: dict[str, int] = {}

    def visit(name: str, stack: list[str]) -> None:
        state[name] = 1
        for callee in sorted(graph[name]):
            if state.get(callee) == 1:
                cycle = " -> ".join([*stack[stack.index(callee):], callee])
                raise RewardCodeError(f"recursion is not allowed ({cycle})",
                                      info.functions[callee])
            if callee not in state:
                visit(callee, [*stack, callee])
        state[name] = 2

    for name in sorted(names):
        if name not in state:
            visit(name, [name])


def _always_returns(body: list[ast.stmt]) -> bool:
    """Every path ends in a `return` (or a `raise`, which the lowering handles)."""
    for stmt in body:
        if isinstance(stmt, ast.Return | ast.Raise):
            return True
        if isinstance(stmt, ast.If) and _always_returns(stmt.body) and _always_returns(
                stmt.orelse):
            return True
    return False


def _check_signature(name: str, fn: ast.FunctionDef | None, arity: int) -> None:
    if fn is None:
        params = "state, action" if arity == 2 else "state"
        raise RewardCodeError(f"the program must define `def {name}({params}):`")
    n_params = len(fn.args.args)
    n_required = n_params - len(fn.args.defaults)
    if not n_required <= arity <= n_params:
        raise RewardCodeError(f"`{name}` must take exactly {arity} positional argument(s) "
                              f"({'state, action' if arity == 2 else 'state'}); it takes "
                              f"{n_params}", fn)


def check_module(tree: ast.Module) -> ModuleInfo:
    """Check a parsed program against the allow-list and collect what it defines."""
    _check_depth(tree)
    info = ModuleInfo()
    checker = _Checker(info)
    # A `if __name__ == "__main__":` demo block is dropped unseen: it is never run, and the
    # saved program leaves it out (`checked_source`), so nothing unchecked is kept.
    info.dropped = [(s.lineno, s.end_lineno or s.lineno) for s in tree.body if _is_main_guard(s)]
    tree = ast.Module(body=[s for s in tree.body if not _is_main_guard(s)], type_ignores=[])
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            _check_import(stmt, info)
        elif isinstance(stmt, ast.FunctionDef):
            if stmt.name in info.functions:
                raise RewardCodeError(f"function `{stmt.name}` is defined twice", stmt)
            if stmt.name.startswith("__"):
                raise RewardCodeError(f"the name `{stmt.name}` is not allowed", stmt)
            info.functions[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if not all(isinstance(t, ast.Name) for t in targets):
                raise RewardCodeError("module-level assignments must bind plain names to "
                                      "constants", stmt)
            info.constants.append(stmt)
        elif _is_docstring(stmt):
            continue
        elif type(stmt) in _WHY:
            raise RewardCodeError(_WHY[type(stmt)], stmt)
        else:
            raise RewardCodeError(f"module-level `{type(stmt).__name__}` statements are not "
                                  "allowed: only imports, function definitions and constants",
                                  stmt)
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.Assign | ast.AnnAssign):
            checker.visit(stmt)
    for name, fn in info.functions.items():
        shadowed = {a.arg for a in fn.args.args} & set(info.modules)
        if shadowed:
            raise RewardCodeError(f"function `{name}` parameter shadows a module name: "
                                  f"{sorted(shadowed)}", fn)
        if not _always_returns(fn.body):
            raise RewardCodeError(f"function `{name}` can end without a `return`; every path "
                                  "must return a value", fn)
    for name, arity in REQUIRED.items():
        _check_signature(name, info.functions.get(name), arity)
    _check_no_recursion(info)
    annotations = _annotation_nodes(tree)
    unknown_builtins = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        and id(n) not in annotations
        and hasattr(builtins, n.id) and n.id not in ALLOWED_BUILTINS
        and n.id not in info.functions and n.id not in info.modules
        and n.id not in info.imported and n.id not in info.typing_names
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in unknown_builtins and not _bound_in(
                tree, node.id):
            raise RewardCodeError(f"the builtin `{node.id}` is not allowed", node)
    return info


def _annotation_nodes(tree: ast.Module) -> set[int]:
    """Ids of nodes inside type annotations, which are never evaluated."""
    roots = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
        elif isinstance(node, ast.FunctionDef) and node.returns is not None:
            roots.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
    return {id(n) for root in roots for n in ast.walk(root)}


def _bound_in(tree: ast.Module, name: str) -> bool:
    """Whether the program binds `name` itself somewhere (assignment, parameter, loop)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return True
        if isinstance(node, ast.arg) and node.arg == name:
            return True
    return False
