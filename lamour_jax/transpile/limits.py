"""The bounds on one reward program's work (`budget.py` enforces them). Plain data, no JAX:
the command line shows them in its help."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds on one reward program. Sized from the reference and corpus programs (all use
    well under a tenth of each) and from the training program: the per-sample figures are
    multiplied by the number of vmapped environments, often thousands."""

    source_chars: int = 100_000  # the model's reply
    syntax_depth: int = 100  # nesting of the syntax tree (a + b + ... chains count)
    steps: int = 5_000  # statements run + loop iterations + comprehension items, per call
    helper_calls: int = 500  # helper functions inlined, per call
    loop_items: int = 1_000  # items one loop or comprehension may unroll
    sequence_items: int = 10_000  # scalars in one Python list/tuple/dict, nested ones counted
    int_bits: int = 256  # any Python integer, literal or computed
    array_elements: int = 16_384  # elements of one array value (e.g. 128 x 128)
    traced_ops: int = 5_000  # JAX operations the lowering may emit, per call
    equations: int = 5_000  # jaxpr equations of the finished per-sample program
    flops: int = 1_000_000  # estimated per-sample FLOPs (matrix products: 2 x M x N x K)
    guard_seconds: float = 30.0  # wall clock for transpile + first compile (guard.py)
    guard_memory_bytes: int = 2 << 30  # resident memory of the guard's child process


LIMITS = Limits()
