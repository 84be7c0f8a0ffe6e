"""Static allow-list check of a reward program's syntax tree, before anything is evaluated.

Everything not named here is rejected. The checks that need values (loop trip counts, array
shapes, index bounds) happen while the program is lowered to JAX, and raise the same error.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from lamour_jax.transpile.errors import RewardCodeError
from lamour_jax.transpile.library import (
    ALLOWED_BUILTINS,
    METHODS,
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
    ast.Gt, ast.GtE,
)

_WHY = {
    ast.ClassDef: "class definitions are not allowed",
    ast.Lambda: "lambda is not allowed; define a helper function with def",
    ast.While: "while loops are not allowed; use `for i in range(N)` with a constant N",
    ast.Global: "global is not allowed",
    ast.Nonlocal: "nonlocal is not allowed",
    ast.Try: "try/except is not allowed; guard values with np.isfinite / np.nan_to_num",
    ast.Raise: "raise is not allowed",
    ast.Assert: "assert is not allowed",
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
    ast.Lambda: "lambda is not allowed; define a helper function with def",
    ast.Match: "match statements are not allowed",
    ast.Invert: "the ~ operator is not allowed; use `not` or np.logical_not",
    ast.Is: "`is` comparisons are not allowed; compare values with ==",
    ast.IsNot: "`is not` comparisons are not allowed; compare values with !=",
    ast.In: "`in` tests are not allowed",
    ast.NotIn: "`not in` tests are not allowed",
    ast.BitAnd: "bitwise & is not allowed; use `and` or np.logical_and",
    ast.BitOr: "bitwise | is not allowed; use `or` or np.logical_or",
    ast.BitXor: "bitwise ^ is not allowed",
    ast.LShift: "bit shifts are not allowed",
    ast.RShift: "bit shifts are not allowed",
}

_FORBIDDEN_CALLS = {
    "exec", "eval", "open", "getattr", "setattr", "delattr", "hasattr", "globals", "locals",
    "vars", "__import__", "compile", "input", "print", "breakpoint", "help", "dir", "type",
    "object", "super", "memoryview", "bytearray", "bytes", "id", "hash", "iter", "next",
    "isinstance", "issubclass", "callable", "classmethod", "staticmethod", "property", "exit",
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

    def generic_visit(self, node: ast.AST) -> None:
        if not isinstance(node, _ALLOWED_NODES):
            why = _WHY.get(type(node), f"`{type(node).__name__}` is not allowed in reward code")
            raise RewardCodeError(why, node)
        super().generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.decorator_list:
            raise RewardCodeError("decorators are not allowed", node)
        args = node.args
        if args.vararg or args.kwarg or args.posonlyargs or args.kwonlyargs:
            raise RewardCodeError(f"function `{node.name}`: only plain parameters (with optional "
                                  "defaults) are allowed, no *args/**kwargs", node)
        for stmt in node.body:
            self.visit(stmt)
        for default in args.defaults:
            self.visit(default)
        # Annotations are never evaluated, so they are not checked.

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if not isinstance(node.target, ast.Name):
            raise RewardCodeError("annotated assignment must target a plain name", node)
        if node.value is not None:
            self.visit(node.value)

    def visit_Expr(self, node: ast.Expr) -> None:
        if _is_docstring(node):
            return
        if not isinstance(node.value, ast.Call):
            why = _WHY.get(type(node.value), "an expression statement does nothing; remove it")
            raise RewardCodeError(why, node)
        self.visit(node.value)

    def visit_For(self, node: ast.For) -> None:
        if node.orelse:
            raise RewardCodeError("for-else is not allowed", node)
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        raise RewardCodeError("imports are only allowed at the top of the module", node)

    visit_ImportFrom = visit_Import

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name.startswith("__"):
            raise RewardCodeError(f"the name `{name}` is not allowed (dunder names)", node)
        if name in _FORBIDDEN_CALLS:
            raise RewardCodeError(f"`{name}` is not allowed in reward code", node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            raise RewardCodeError(f"the attribute `{node.attr}` is not allowed (private or "
                                  "dunder attribute)", node)
        path = _attribute_path(node, self.info)
        if path is not None:
            if path in self.info.modules.values() or path == "numpy.linalg":
                return
            if resolve_module_path(path) is None:
                raise RewardCodeError(f"`{path}` is not on the allow-list of numpy/math "
                                      "functions", node)
            return
        self.visit(node.value)  # report `open(...).write` as `open`, not as `.write`
        if node.attr not in METHODS:
            raise RewardCodeError(f"the attribute or method `.{node.attr}` is not allowed", node)

    def visit_Call(self, node: ast.Call) -> None:
        # `f(*values)` with a sequence of constant length is fine; stars elsewhere are not.
        self.visit(node.func)
        for arg in node.args:
            self.visit(arg.value if isinstance(arg, ast.Starred) else arg)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise RewardCodeError("**kwargs in calls are not allowed", node)
            self.visit(keyword.value)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, bytes | complex) or node.value is Ellipsis:
            raise RewardCodeError(f"the constant {node.value!r} is not allowed", node)
        if isinstance(node.value, str) and len(node.value) > 10_000:
            raise RewardCodeError("string constant too long", node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) and isinstance(
                node.left.value, str):
            raise RewardCodeError("string formatting with % is not allowed", node)
        self.generic_visit(node)


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
    for stmt in body:
        if isinstance(stmt, ast.Return):
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
    info = ModuleInfo()
    checker = _Checker(info)
    # A `if __name__ == "__main__":` demo block is dropped unseen: it is never run.
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
