"""Keep the policy of a recovery run's best evaluation (DIR/peak), not only its last one.

Retraining is not monotone: an ant that walked on after getting up (OOD return 2.5k) at one
evaluation can overshoot its flip at the next and lose it. DIR/best holds the best
candidate's final policy; DIR/peak holds the seeds of whichever candidate scored highest at
any evaluation, as they were then, and DIR/peak.json says which evaluation that was.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from lamour_jax.runtime.checkpoint import save_policy
from lamour_jax.runtime.distributed import is_primary
from lamour_jax.runtime.loop import policy_export, recorded

PEAK_DIR, PEAK_RECORD = "peak", "peak.json"


def candidate_scores(rows: Sequence[dict[str, Any]], names: Sequence[str], seeds: int
                     ) -> list[tuple[float, float]]:
    """One evaluation's (recovery rate, OOD return) per candidate, averaged over its seeds:
    the order candidates are ranked by."""
    scores = []
    for k in range(len(names)):
        members = [r for r in rows if r["member"] // seeds == k]
        scores.append((_mean(recorded(members, "recovery_rate")),
                       _mean(recorded(members, "return_mean"))))
    return scores


def _mean(values: np.ndarray) -> float:
    """The mean over seeds; -inf where every seed's value was NaN (that candidate ranks last)."""
    return float(values.mean()) if values.size else float("-inf")


def save_candidate(directory: Path, state: Any, k: int, seeds: int, names: Sequence[str],
                   meta: dict[str, Any]) -> None:
    """Export candidate k's seeds (members k*seeds .. (k+1)*seeds - 1) as a policy folder."""
    picked = jax.tree.map(lambda x: x[k * seeds:(k + 1) * seeds], policy_export(state))
    save_policy(directory, picked, {**meta, "members": seeds, "candidates": [names[k]]})


class PeakKeeper:
    """`run_training`'s after-evaluation hook: exports the policy when an evaluation beats
    every earlier one of the run (ties keep the earlier)."""

    def __init__(self, out: Path, names: Sequence[str], seeds: int, meta: dict[str, Any],
                 resumed_from: int = 0) -> None:
        self.out, self.names, self.seeds, self.meta = Path(out), list(names), seeds, meta
        self.best: tuple[float, float] | None = None
        record = self.record()
        if record is not None and record["eval"] > resumed_from:
            # Kept from evaluations after the checkpoint this run resumes from: those are
            # trained again, so their peak no longer belongs to this run.
            self._discard()
        elif record is not None:
            self.best = (record["recovery_rate"], record["return_mean"])

    def record(self) -> dict[str, Any] | None:
        path = self.out / PEAK_RECORD
        return json.loads(path.read_text()) if path.is_file() else None

    def _discard(self) -> None:
        if is_primary():
            (self.out / PEAK_RECORD).unlink(missing_ok=True)
            shutil.rmtree(self.out / PEAK_DIR, ignore_errors=True)

    def __call__(self, evaluation: int, state: Any, rows: list[dict[str, Any]]) -> None:
        scores = candidate_scores(rows, self.names, self.seeds)
        k = max(range(len(scores)), key=lambda i: scores[i])  # first of equals
        if self.best is not None and scores[k] <= self.best:
            return
        self.best = scores[k]
        save_candidate(self.out / PEAK_DIR, state, k, self.seeds, self.names, self.meta)
        members = [r for r in rows if r["member"] // self.seeds == k]
        normal = recorded(members, "normal_return_mean")
        if is_primary():
            (self.out / PEAK_RECORD).write_text(json.dumps({
                "eval": evaluation, "step": rows[0]["step"], "candidate": self.names[k],
                "recovery_rate": scores[k][0], "return_mean": scores[k][1],
                "normal_return_mean": (float(normal.mean()) if normal.size else None),
            }, indent=2))
