"""Test-only NumPy reference for reward programs: runs trusted corpus programs as Python.

This is the ground truth the transpiler is compared with. It executes code, so it is used only
on the project's own test corpus, never on model output.
"""

from __future__ import annotations

import warnings

import numpy as np

from lamour_jax.transpile import extract_code


def numpy_functions(source: str) -> tuple:
    namespace: dict = {"__name__": "reference_program"}
    exec(compile(extract_code(source), "<reference>", "exec"), namespace)  # noqa: S102
    return namespace["calculate_reward"], namespace["is_recovered"]


def run_reference(source: str, states: np.ndarray, actions: np.ndarray) -> dict:
    """Per-sample float64 results; samples on which Python raises are marked not ok."""
    reward_fn, recovered_fn = numpy_functions(source)
    totals, recovered, ok = [], [], []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for s, a in zip(states.astype(np.float64), actions.astype(np.float64), strict=True):
            try:
                value = reward_fn(s.copy(), a.copy())
                total = value[0] if isinstance(value, tuple) else value
                totals.append(float(total))
                recovered.append(bool(recovered_fn(s.copy())))
                ok.append(True)
            except (ValueError, OverflowError, ZeroDivisionError):
                totals.append(np.nan)
                recovered.append(False)
                ok.append(False)
    return {"total": np.array(totals), "recovered": np.array(recovered),
            "ok": np.array(ok)}
