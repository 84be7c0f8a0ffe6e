"""The package's shape: the command line parses without the heavy libraries, no module-level
import circle, renamed options keep their old names."""

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lamour_jax.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
# Where each importable name of the package lives in the repository.
PACKAGE_DIRS = {"lamour_jax": ROOT / "lamour_jax", "lamour_jax.envs": ROOT / "envs",
                "lamour_jax.rewards": ROOT / "rewards"}


def test_help_and_bad_flags_load_no_heavy_library():
    probe = ("import sys\nfrom lamour_jax.cli import build_parser\n"
             "p = build_parser()\n"
             "for argv in (['train', 'hoppr'], ['recover', '--help'], ['--help']):\n"
             "    try:\n        p.parse_args(argv)\n    except SystemExit:\n        pass\n"
             "heavy = sorted(m for m in ('jax', 'mujoco', 'flax', 'optax', 'orbax', 'litellm')"
             " if m in sys.modules)\n"
             "print('HEAVY', heavy, file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60)
    assert "HEAVY []" in out.stderr, out.stderr[-2000:]


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _module_level_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The package modules `path` imports when it is imported (not inside functions, not
    under `if TYPE_CHECKING`)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def test_no_import_circle():
    modules = _modules()
    graph = {name: _module_level_imports(path, name, set(modules))
             for name, path in modules.items()}
    # Importing a module imports its parent packages first; a package importing its own
    # submodule is the usual index, not a circle.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_every_command_has_a_handler():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = []
    for name, command in sub.choices.items():
        nested = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        leaves = nested[0].choices.items() if nested else [(name, command)]
        missing += [leaf for leaf, p in leaves if not callable(p._defaults.get("handler"))]
    assert not missing


@pytest.mark.parametrize("argv, dest, value", [
    (["evaluate", "run", "--seed-index", "2"], "member", 2),
    (["recover", "hopper", "--policy-index", "1"], "policy_member", 1),
    (["train", "hopper", "--init-policy-index", "3"], "init_policy_member", 3)])
def test_renamed_options_answer_to_their_old_names(argv, dest, value, capsys):
    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value
    assert "is now called" in capsys.readouterr().err
    new = {"member": "--member", "policy_member": "--policy-member",
           "init_policy_member": "--init-policy-member"}[dest]
    args = build_parser().parse_args([*argv[:-2], new, argv[-1]])
    assert getattr(args, dest) == value and capsys.readouterr().err == ""


def test_every_result_is_in_the_results_index():
    """benchmarks/results/README.md lists every results file, and each link resolves."""
    results = ROOT / "benchmarks" / "results"
    index = (results / "README.md").read_text()
    files = {p.name for p in results.glob("*.md")} - {"README.md"}
    missing = sorted(f for f in files if f"]({f})" not in index)
    assert not missing, f"add to benchmarks/results/README.md: {missing}"
    dangling = [t for t in re.findall(r"\]\(([^)]+)\)", index) if not (results / t).exists()]
    assert not dangling, dangling
