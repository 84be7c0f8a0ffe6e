"""Untrusted Python/NumPy reward programs to validated, pure JAX functions.

    from lamour_jax.transpile import transpile, RewardCodeError
    prog = transpile(source)                  # parse, allow-list check, lower; never exec
    jax.jit(jax.vmap(prog.calculate_reward))(states, actions)

See `lower.py` for how control flow on state values becomes predication.
"""

from lamour_jax.transpile.errors import RewardCodeError
from lamour_jax.transpile.extract import extract_code
from lamour_jax.transpile.program import (
    CandidateSet,
    RewardProgram,
    candidate_set,
    transpile,
)

__all__ = ["CandidateSet", "RewardCodeError", "RewardProgram", "candidate_set", "extract_code",
           "transpile"]
