"""The transpiler: semantics against NumPy, safety against hostile programs, API shape."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reward_reference import run_reference

from lamour_jax.envs import ENV_NAMES, make
from lamour_jax.rewards import reference_source
from lamour_jax.transpile import RewardCodeError, candidate_set, extract_code, transpile

CORPUS = Path(__file__).parent / "reward_corpus"
GOOD = sorted((CORPUS / "good").glob("*.py"))
DIMS = {name: (make(name).program_state_size, make(name).action_size) for name in ENV_NAMES}
THRESHOLDS = np.array([0.7, 0.8, 0.25, 0.1, -0.1, 1.4, 0.9, 2.0, -0.3, 0.3, math.pi / 6, 1.0],
                      np.float32)


def _dims(path: Path) -> tuple[int, int]:
    match = re.search(r"# dims: (\d+) (\d+)", path.read_text())
    assert match, f"{path.name} needs a '# dims: OBS ACT' header"
    return int(match[1]), int(match[2])


def _batch(obs_dim: int, action_dim: int, n: int = 192, seed: int = 0) -> tuple:
    """Random states with thresholds hit exactly, and a few NaN/inf entries."""
    rng = np.random.default_rng(seed)
    states = rng.normal(0.0, 1.0, (n, obs_dim)).astype(np.float32)
    hit = rng.random((n, 2)) < 0.3
    states[:, :2] = np.where(hit, rng.choice(THRESHOLDS, (n, 2)), states[:, :2])
    bad = rng.random((n, obs_dim)) < 0.01
    states[bad] = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32), bad.sum())
    actions = rng.uniform(-1.5, 1.5, (n, action_dim)).astype(np.float32)
    return states, actions


def _programs() -> list:
    cases = [pytest.param(p.read_text(), _dims(p), id=p.stem) for p in GOOD]
    cases += [pytest.param(reference_source(e), DIMS[e], id=f"reference_{e}") for e in ENV_NAMES]
    return cases


@pytest.mark.parametrize(("source", "dims"), _programs())
def test_matches_numpy_reference(source: str, dims: tuple[int, int]) -> None:
    program = transpile(source, *dims)
    states, actions = _batch(*dims)
    reward = np.asarray(jax.jit(jax.vmap(program.calculate_reward))(states, actions))
    recovered = np.asarray(jax.jit(jax.vmap(program.is_recovered))(states))
    assert reward.dtype == np.float32 and reward.shape == (len(states),)
    assert recovered.dtype == np.bool_
    ref = run_reference(source, states, actions)
    ok = ref["ok"]
    assert ok.mean() > 0.5, "too few samples where the NumPy reference ran"
    np.testing.assert_allclose(reward[ok], ref["total"][ok], rtol=1e-4, atol=1e-4,
                               equal_nan=True)
    np.testing.assert_array_equal(recovered[ok], ref["recovered"][ok])


def test_thresholds_behave_as_in_float64() -> None:
    source = """
def is_recovered(state):
    return state[0] >= 0.7 and state[1] > 0.1 and state[2] <= 0.3 and 0.9 < state[3]

def calculate_reward(state, action):
    return -1.0 if state[0] >= 0.7 else -2.0
"""
    program = transpile(source, 4, 1)
    for value in (0.7, 0.1, 0.3, 0.9):
        x = np.float32(value)
        states = np.array([[x, 0.2, 0.2, 1.0], [0.8, x, 0.2, 1.0], [0.8, 0.2, x, 1.0],
                           [0.8, 0.2, 0.2, x]], np.float32)
        ref = run_reference(source, states, np.zeros((4, 1), np.float32))
        ours = np.asarray(jax.vmap(program.is_recovered)(states))
        np.testing.assert_array_equal(ours, ref["recovered"])
        np.testing.assert_array_equal(jax.vmap(program.calculate_reward)(
            states, np.zeros((4, 1), np.float32)), ref["total"])


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float32, 11, elements=st.floats(width=32, allow_nan=True,
                                                     allow_infinity=True)),
       hnp.arrays(np.float32, 3, elements=st.floats(-1, 1, width=32)))
def test_hopper_reference_any_float(state: np.ndarray, action: np.ndarray) -> None:
    source = reference_source("hopper")
    ref = run_reference(source, state[None], action[None])
    ours = float(_hopper_jit()(state, action))
    np.testing.assert_allclose(ours, ref["total"][0], rtol=1e-4, atol=1e-4, equal_nan=True)


_CACHE: dict = {}


def _hopper_program():  # noqa: ANN202
    if "hopper" not in _CACHE:
        _CACHE["hopper"] = transpile(reference_source("hopper"), 11, 3)
    return _CACHE["hopper"]


def _hopper_jit():  # noqa: ANN202
    if "jit" not in _CACHE:
        _CACHE["jit"] = jax.jit(_hopper_program().calculate_reward)
    return _CACHE["jit"]


def test_traces_once_for_a_batch_shape() -> None:
    program = transpile(reference_source("ant"), 111, 8)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def batch_reward(states: jax.Array, actions: jax.Array) -> jax.Array:
        return jax.vmap(program.calculate_reward)(states, actions)

    for seed in range(3):
        states, actions = _batch(111, 8, n=64, seed=seed)
        batch_reward(states, actions).block_until_ready()


def test_program_api() -> None:
    source = (CORPUS / "good" / "eureka_components.py").read_text()
    program = transpile(source, 17, 6)
    assert program.sha256 == hashlib.sha256(program.source.encode()).hexdigest()
    assert set(program.component_names(17, 6)) == {"height", "pitch", "control", "flipped",
                                                   "total"}
    state = jnp.zeros(17).at[1].set(-2.5)
    parts = program.components(state, jnp.zeros(6))
    assert float(parts["total"]) == -3.0 and float(parts["flipped"]) == -1.0
    plain = transpile(reference_source("hopper"))
    assert set(plain.components(jnp.zeros(11), jnp.zeros(3))) == {"total"}


def test_candidate_set_switches_by_index() -> None:
    programs = [transpile(reference_source("hopper")),
                transpile((CORPUS / "good" / "early_returns_nested.py").read_text())]
    cands = candidate_set(programs)
    states, actions = _batch(11, 3, n=16)
    fn = jax.jit(jax.vmap(cands.calculate_reward, in_axes=(None, 0, 0)))
    rec = jax.jit(jax.vmap(cands.is_recovered, in_axes=(None, 0)))
    for index, program in enumerate(programs):
        expected = jax.vmap(program.calculate_reward)(states, actions)
        np.testing.assert_allclose(fn(index, states, actions), expected, rtol=1e-6)
        np.testing.assert_array_equal(rec(index, states), jax.vmap(program.is_recovered)(states))


@pytest.mark.parametrize(("snippet", "line", "words"), [
    ("def is_recovered(state):\n    while True:\n        pass\n    return 1\n", 2, "while"),
    ("import os\n", 1, "import os"),
    ("def is_recovered(state):\n    return eval('1')\n", 2, "eval"),
    ("import numpy as np\ndef is_recovered(state):\n    return np.load('x')\n", 3, "numpy.load"),
    ("def is_recovered(state):\n    return state.__class__\n", 2, "__class__"),
])
def test_errors_name_line_and_construct(snippet: str, line: int, words: str) -> None:
    source = snippet + "def calculate_reward(state, action):\n    return -1.0\n"
    with pytest.raises(RewardCodeError, match=re.escape(words)) as info:
        transpile(source)
    assert info.value.line == line


def test_trace_time_errors_carry_lines() -> None:
    source = ("def is_recovered(state):\n    return 1\n"
              "def calculate_reward(state, action):\n    i = 4 * 10\n"
              "    return state[i]\n")
    with pytest.raises(RewardCodeError, match="line 5: index 40 is out of range"):
        transpile(source, 11, 3)
    vector = ("def is_recovered(state):\n    return 1\n"
              "def calculate_reward(state, action):\n    return state[:3]\n")
    with pytest.raises(RewardCodeError, match="scalar"):
        transpile(vector, 11, 3)


def test_extract_code_from_replies() -> None:
    two_blocks = ("First:\n```python\nimport numpy as np\ndef is_recovered(state):\n"
                  "    return 1\n```\nThen:\n```py\ndef calculate_reward(state, action):\n"
                  "    return -1.0\n```\nDone.")
    code = extract_code(two_blocks)
    assert "import numpy" in code and "calculate_reward" in code and "Done" not in code
    prose = ("Here you go.\nimport numpy as np\n\ndef is_recovered(state):\n    return 1\n\n"
             "def calculate_reward(state, action):\n    return -1.0\nHope this helps!")
    assert extract_code(prose).strip().endswith("return -1.0")
    with pytest.raises(RewardCodeError, match="no Python code"):
        extract_code("I cannot help with that.")
