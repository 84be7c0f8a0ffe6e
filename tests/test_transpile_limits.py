"""The transpiler's bounds: hostile programs end in a RewardCodeError within seconds and
bounded memory, the work budget names its limit, every failure carries a line, the saved
program is what was checked, and NumPy semantics hold where they differ from jnp's."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reward_reference import run_reference

from lamour_jax.reward_check import check_program
from lamour_jax.transpile import RewardCodeError, transpile
from lamour_jax.transpile import library as lib
from lamour_jax.transpile.budget import LIMITS, BudgetError
from lamour_jax.transpile.guard import transpile_guarded

TESTS = Path(__file__).parent
HOSTILE = sorted((TESTS / "reward_corpus" / "hostile").glob("*.py"))
RECOVERED = "\ndef is_recovered(state):\n    return state[0] > 0.5\n"
SECONDS_PER_PROGRAM = 5.0
ADDRESS_SPACE = 3 << 30  # JAX reserves ~1.5 GiB of address space before doing anything


def test_hostile_corpus_is_rejected_quickly_in_a_bounded_child(tmp_path: Path) -> None:
    """Every hostile program, in a child with an address-space limit: a one-line
    RewardCodeError with a line (unless it is about the whole program) within seconds, no
    canary file, and the child's resident memory under the guard's limit."""
    out = subprocess.run(
        [sys.executable, str(TESTS / "hostile_runner.py"), str(ADDRESS_SPACE), "10",
         str(tmp_path), *map(str, HOSTILE)],
        capture_output=True, text=True, timeout=600, check=False, cwd=TESTS)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    results, memory = rows[:-1], rows[-1]["max_resident_bytes"]
    assert [r["name"] for r in results] == [p.stem for p in HOSTILE]
    whole_program = ("must define", "the program is")
    for r in results:
        assert r["kind"] == "RewardCodeError", r
        assert r["seconds"] < SECONDS_PER_PROGRAM, r
        assert not r["canary"], r
        assert "\n" not in r["message"] and len(r["message"]) > 10, r
        if not any(words in r["message"] for words in whole_program):
            assert re.match(r"line \d+: ", r["message"]), r
    assert not list(tmp_path.iterdir())
    assert memory < LIMITS.guard_memory_bytes, f"child peaked at {memory / 2**30:.2f} GiB"


def _reward(body: str, head: str = "import numpy as np\nimport math\n") -> str:
    return head + "def calculate_reward(state, action):\n" + body + RECOVERED


def _budget_or_accepted(source: str) -> str:
    """'accepted', or the name of the budget that refused the program; anything else fails."""
    try:
        transpile(source, 11, 3)
    except BudgetError as err:
        assert f"limit `{err.budget}`" in str(err) and err.line is not None, str(err)
        return err.budget
    return "accepted"


PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(depth=st.integers(1, 400), kind=st.sampled_from(["paren", "unary", "list", "call",
                                                        "chain"]))
def test_any_nesting_depth_is_lowered_or_refused_by_name(depth: int, kind: str) -> None:
    expr = {"paren": "(" * depth + "state[0]" + ")" * depth,
            "unary": "-" * depth + "state[0]",
            "list": "[" * depth + "state[0]" + "]" * depth,
            "call": "np.abs(" * depth + "state[0]" + ")" * depth,
            "chain": " + ".join(["state[0]"] * depth)}[kind]
    verdict = _budget_or_accepted(_reward(f"    x = {expr}\n    return -1.0\n"))
    assert verdict in ("accepted", "syntax_depth")
    if depth <= 20:
        assert verdict == "accepted"


@PROPERTY
@given(trips=st.lists(st.integers(0, 1500), min_size=1, max_size=3),
       helper=st.booleans())
@example(trips=[49, 50, 0], helper=False)  # 2,450 iterations around a loop over nothing
def test_any_loop_nest_is_lowered_or_refused_by_name(trips: list[int], helper: bool) -> None:
    lines, indent = [], "    "
    for level, n in enumerate(trips):
        lines.append(f"{indent}for i{level} in range({n}):")
        indent += "    "
    lines.append(f"{indent}t = t + {'h(state[0])' if helper else 'np.sin(state[0])'}")
    body = "    t = 0.0\n" + "\n".join(lines) + "\n    return -t\n"
    head = "import numpy as np\ndef h(x):\n    return np.sin(x) * 0.5\n"
    verdict = _budget_or_accepted(_reward(body, head))
    assert verdict in ("accepted", "loop_items", "steps", "traced_ops", "helper_calls",
                       "equations", "flops")
    # A loop over too many items is refused whenever it is reached (as in Python, the body
    # of a loop over nothing never runs, so an inner loop behind a zero-trip one is not).
    reached = trips[:next((k + 1 for k, n in enumerate(trips) if n == 0), len(trips))]
    if max(reached) > LIMITS.loop_items:
        assert verdict != "accepted"
    # The work is every iteration of every level reached, not only the innermost body's:
    # 49 x 50 iterations around a loop over nothing still run 2,450 loop statements.
    iterations = sum(math.prod(reached[:k + 1]) for k in range(len(reached)))
    if iterations <= 200:
        assert verdict == "accepted"


@PROPERTY
@given(digits=st.integers(1, 2000), repeat=st.integers(0, 10**6), width=st.integers(0, 3000))
def test_any_literal_size_is_lowered_or_refused_by_name(digits: int, repeat: int,
                                                        width: int) -> None:
    number = "9" * digits
    for body in (f"    n = {number}\n    return -1.0\n",
                 f"    xs = [0.5] * {repeat}\n    return -float(len(xs))\n",
                 f"    xs = {repeat} * [state[0]]\n    return -xs[0] if xs else -1.0\n",
                 f"    m = np.zeros(({width}, {width}))\n    return -1.0\n"):
        verdict = _budget_or_accepted(_reward(body))
        assert verdict in ("accepted", "int_bits", "sequence_items", "loop_items",
                           "array_elements")
    assert _budget_or_accepted(_reward(f"    n = {number}\n    return -1.0\n")) == (
        "accepted" if int(number).bit_length() <= LIMITS.int_bits else "int_bits")


def test_failures_of_every_kind_are_reward_code_errors_with_lines() -> None:
    cases = {
        b"\xef\xbb\xbf" + _reward("    return -1.0\n").encode(): None,  # BOM: accepted
        b"def calculate_reward(state, action):\n    return -1.0\xff\n": 2,
        _reward("    ok = ~state[0]\n    return -1.0\n"): 4,  # ~ on a float
        _reward("    ok = 3 in [1, 2]\n    return -1.0\n"): 4,
        _reward("    ok = state is None\n    return -1.0\n"): 4,
        _reward("    return -float(1 << 4)\n"): 4,
        "def calculate_reward(state, action):\n    return -" + "(" * 1000 + "1" + ")" * 1000: 2,
    }
    for source, line in cases.items():
        if line is None:
            transpile(source, 11, 3)
            continue
        with pytest.raises(RewardCodeError) as info:
            transpile(source, 11, 3)
        assert info.value.line == line, str(info.value)
        assert "must define" not in str(info.value)


def test_an_internal_error_is_wrapped_with_its_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise AttributeError("internal slip")

    monkeypatch.setitem(lib.NUMPY, "tanh", broken)
    with pytest.raises(RewardCodeError, match=r"line 4: .*AttributeError: internal slip") as info:
        transpile(_reward("    return -np.tanh(state[0])\n"), 11, 3)
    assert isinstance(info.value.__cause__, AttributeError)


def test_the_saved_program_is_exactly_what_was_checked() -> None:
    payload = "    open('/tmp/lamour-canary', 'w').write('x')\n"
    source = _reward("    return -1.0\n") + 'if __name__ == "__main__":\n' + payload
    program = transpile(source, 11, 3)
    assert "open(" not in program.source and "__main__" not in program.source
    assert "def calculate_reward" in program.source
    # Lines after a dropped block keep their numbers, so errors and the saved file agree.
    middle = ('import numpy as np\nif __name__ == "__main__":\n' + payload +
              _reward("    return -1.0\n", head=""))
    saved = transpile(middle, 11, 3).source.splitlines()
    assert saved.index("def calculate_reward(state, action):") == 3
    assert "open(" not in "".join(saved)
    # What is saved transpiles to the same program.
    again = transpile(program.source, 11, 3)
    assert again.sha256 == program.sha256
    with pytest.raises(RewardCodeError, match="line 3: type annotations"):
        transpile(_reward("    return -1.0\n").replace(
            "(state, action)", "(state: open('x'), action)"))


@pytest.mark.parametrize("threshold", [0.7, 0.1, 0.3, -0.3, 1.4, math.pi / 6])
def test_thresholds_decide_as_float64_in_every_spelling(threshold: float) -> None:
    """The rule: a float32 state value meets a Python float as float64 would, whether it is
    compared directly, through np.greater_equal & co., or after `x - c` / `c - x`."""
    spellings = ["x >= c", "x > c", "x < c", "c <= x", "np.greater_equal(x, c)",
                 "np.less(x, c)", "x - c >= 0", "x - c > 0", "0 > x - c", "c - x <= 0",
                 "np.subtract(x, c) >= 0", "x + (-c) >= 0"]
    body = "    x = state[0]\n    c = C\n    return [" + ", ".join(spellings) + "]\n"
    source = ("import numpy as np\ndef calculate_reward(state, action):\n    return -1.0\n"
              "def decide(state):\n" + body.replace("C", repr(threshold)) +
              "def is_recovered(state):\n    return 1\n")
    program = transpile(source)
    c32 = np.float32(threshold)
    xs = np.array([np.nextafter(c32, -np.inf), c32, np.nextafter(c32, np.inf)], np.float32)
    states = np.zeros((3, 2), np.float32)
    states[:, 0] = xs
    ours = jax.vmap(lambda s: program._lowering.call("decide", s))(states)
    namespace: dict = {}
    exec(compile(source, "<spellings>", "exec"), {"np": np}, namespace)  # noqa: S102 - ours
    for i, x in enumerate(xs.astype(np.float64)):
        expected = namespace["decide"](np.array([x, 0.0]))
        got = [bool(v[i]) for v in ours]
        assert got == [bool(e) for e in expected], (threshold, float(x), spellings)


def test_negative_zero_counts_as_never_positive_in_the_reward_check() -> None:
    source = ("import numpy as np\n"
              "def is_recovered(state):\n"
              "    return state[0] > 0.7 and abs(state[1]) < 0.5\n"
              "def calculate_reward(state, action):\n"
              "    h, angle = state[0], state[1]\n"
              "    return -(max(0.0, 0.7 - h) + max(0.0, abs(angle) - 0.5)) "
              "- 0.1 * float(np.sum(np.square(action)))\n")
    program = transpile(source, 11, 3)
    assert str(program.calculate_reward(np.array([1.25] + [0.0] * 10, np.float32),
                                        np.zeros(3, np.float32))) == "-0.0"
    report = check_program(program, "hopper", n=16)
    assert report.max_reward == 0.0 and report.never_positive
    assert "never positive | yes" in report.table()


def test_the_guard_rejects_a_slow_compile_and_keeps_a_good_program() -> None:
    slow = _reward("    t = state[0]\n    for i in range(999):\n"
                   "        t = np.sin(t) * 1.01 + np.cos(t)\n    return -t\n")
    with pytest.raises(BudgetError, match="took longer than 0.5 s") as info:
        transpile_guarded(slow, 11, 3, seconds=0.5)
    assert info.value.budget == "guard_seconds"
    with pytest.raises(BudgetError, match="used more than") as info:
        transpile_guarded(_reward("    return -1.0\n"), 11, 3, memory_bytes=64 << 20)
    assert info.value.budget == "guard_memory_bytes"
    good = transpile_guarded(_reward("    return -float(state[0] ** 2)\n"), 11, 3)
    assert float(good.calculate_reward(np.ones(11, np.float32), np.zeros(3))) == -1.0


def test_safe_idioms_match_numpy() -> None:
    source = (TESTS / "reward_corpus" / "good" / "numpy_idioms.py").read_text()
    program = transpile(source, 11, 3)
    states = np.random.default_rng(1).normal(0.7, 0.3, (32, 11)).astype(np.float32)
    states[:4, 0] = np.float32(0.7)
    actions = np.zeros((32, 3), np.float32)
    ref = run_reference(source, states, actions)
    np.testing.assert_allclose(jax.vmap(program.calculate_reward)(states, actions),
                               ref["total"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(jax.vmap(program.is_recovered)(states), ref["recovered"])
