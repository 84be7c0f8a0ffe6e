"""Untrusted Python/NumPy reward programs to validated, pure JAX functions.

    from lamour_jax.transpile import transpile, RewardCodeError
    prog = transpile(source)                  # parse, allow-list check, lower; never exec
    jax.jit(jax.vmap(prog.calculate_reward))(states, actions)

See `lower.py` for how control flow on state values becomes predication. The names load their
modules (and JAX) when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamour_jax.lazy import lazy_exports
from lamour_jax.transpile.errors import RewardCodeError

__getattr__ = lazy_exports(__name__, {
    "extract_code": "extract", "CandidateSet": "program", "RewardProgram": "program",
    "candidate_set": "program", "transpile": "program"})

if TYPE_CHECKING:
    from lamour_jax.transpile.extract import extract_code
    from lamour_jax.transpile.program import CandidateSet, RewardProgram, candidate_set, transpile

__all__ = ["CandidateSet", "RewardCodeError", "RewardProgram", "candidate_set", "extract_code",
           "transpile"]
