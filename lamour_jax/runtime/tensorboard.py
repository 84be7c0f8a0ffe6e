"""TensorBoard event files next to metrics.jsonl (`--tensorboard`): one run per member.

metrics.jsonl stays the record every report reads; the event files are a view of the same rows
for people who watch runs in TensorBoard (`tensorboard --logdir DIR`). tensorboardX writes them
without TensorFlow; it is already in the environment as a brax dependency.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Row fields that index a row rather than measure something.
_INDEX_FIELDS = frozenset({"eval", "step", "member", "wall_s"})
# Evaluation results, grouped apart from the learner's own statistics.
_EVAL_FIELDS = frozenset({"episode_length", "recovery_rate", "steps_to_recovery_median"})


def tag(name: str) -> str:
    """The TensorBoard tag of a metrics.jsonl field: eval/, loss/, perf/ or train/."""
    if name == "sps":
        return "perf/steps_per_second"
    if name.endswith("_loss"):
        return f"loss/{name}"
    if name.startswith("train_"):  # the training episodes' own statistics
        return f"train/{name}"
    if "return" in name or name in _EVAL_FIELDS:
        return f"eval/{name}"
    return f"train/{name}"


class TensorBoardLog:
    """One tensorboardX writer per member (a seed, a sweep point's seed, a candidate's seed)
    under `run_dir/tensorboard/`.

    `first_step` is where this process starts writing: on a resume, TensorBoard is told to
    drop the events an interrupted run wrote past its last checkpoint (tensorboardX's
    `purge_step`), just as metrics.jsonl drops its lines past it."""

    def __init__(self, run_dir: Path, names: Sequence[str], first_step: int = 0) -> None:
        from tensorboardX import SummaryWriter

        root = Path(run_dir) / "tensorboard"
        purge = first_step + 1 if first_step > 0 else None
        self.writers = [SummaryWriter(str(root / name), purge_step=purge, flush_secs=30)
                        for name in names]

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Rows as metrics.jsonl holds them, `member` indexing the writer. Lists (per-feature
        dropout variances) and nulls (a median over no recovered episodes) are left out."""
        for row in rows:
            writer = self.writers[row["member"]]
            for name, value in row.items():
                if name in _INDEX_FIELDS or not isinstance(value, (int, float)):
                    continue
                writer.add_scalar(tag(name), value, global_step=row["step"])
            writer.flush()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
