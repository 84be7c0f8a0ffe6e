"""The learning curve of a training run, from its metrics.jsonl, as a PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def plot_learning_curve(run_dir: Path, path: Path | None = None) -> Path | None:
    """Evaluation return (deterministic policy, mean ± std over seeds) and the training
    episodes' return against env steps. None when the run has no evaluation yet."""
    run_dir = Path(run_dir)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
            if line.strip()]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array(sorted({r["step"] for r in rows}))
    seeds = sorted({r["seed"] for r in rows})

    def per_step(key: str) -> np.ndarray:  # (steps, seeds), NaN where missing
        table = {(r["step"], r["seed"]): r.get(key) for r in rows}
        return np.array([[np.nan if table.get((s, k)) is None else table[(s, k)]
                          for k in seeds] for s in steps], dtype=float)

    config = json.loads((run_dir / "config.json").read_text()) \
        if (run_dir / "config.json").is_file() else {}
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for key, label, color in (("return_mean", "evaluation (deterministic)", "tab:blue"),
                              ("train_return", "training episodes (sampled)", "tab:orange")):
        values = per_step(key)
        mean, sd = np.nanmean(values, axis=1), np.nanstd(values, axis=1)
        ax.plot(steps, mean, color=color, label=label)
        if len(seeds) > 1:
            ax.fill_between(steps, mean - sd, mean + sd, color=color, alpha=0.2)
    ax.set(title=f"{config.get('env', run_dir.name)} ({config.get('variant', '')}), "
                 f"{len(seeds)} seed(s)", xlabel="env steps", ylabel="episode return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = path or run_dir / "learning_curve.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
