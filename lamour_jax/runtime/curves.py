"""The learning curve of a training run, from its metrics.jsonl, as a PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lamour_jax.learner.sweep import format_point
from lamour_jax.runtime.run_dir import RunDir


def plot_learning_curve(run_dir: Path, path: Path | None = None) -> Path | None:
    """Evaluation return (deterministic policy, mean ± std over seeds) and the training
    episodes' return against env steps; for a sweep, the evaluation return of each grid point.
    None when the run has no evaluation yet."""
    run_dir = Path(run_dir)
    rows = RunDir(run_dir).history()
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array(sorted({r["step"] for r in rows}))
    seeds = sorted({r["member"] for r in rows})

    def per_step(key: str) -> np.ndarray:  # (steps, seeds), NaN where missing
        table = {(r["step"], r["member"]): r.get(key) for r in rows}
        return np.array([[np.nan if table.get((s, k)) is None else table[(s, k)]
                          for k in seeds] for s in steps], dtype=float)

    try:
        record = RunDir(run_dir).read()
        variant = record.get("variant", "ood" if record.kind == "recovery" else "")
        title = f"{record.env} ({variant})"
    except ValueError:
        title = run_dir.name
    fig, ax = plt.subplots(figsize=(6.4, 4.0))

    def band(values: np.ndarray, label: str, color: Any) -> None:  # mean ± std over seeds
        mean, sd = np.nanmean(values, axis=1), np.nanstd(values, axis=1)
        # A run of one evaluation has one point, which a line alone would not draw.
        ax.plot(steps, mean, color=color, label=label, marker="o" if len(steps) < 3 else None)
        if values.shape[1] > 1:
            ax.fill_between(steps, mean - sd, mean + sd, color=color, alpha=0.2)

    points = {json.dumps(r["hp"]): r["hp"] for r in rows if "hp" in r}
    if points:  # a sweep: one evaluation curve per grid point, over its seeds
        member_point = {r["member"]: json.dumps(r["hp"]) for r in rows}
        evaluation = per_step("return_mean")
        colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, len(points)))
        for color, (name, point) in zip(colors, points.items(), strict=True):
            columns = [i for i, k in enumerate(seeds) if member_point[k] == name]
            band(evaluation[:, columns], format_point(point), color)
        title += f", {len(points)} grid points x {len(seeds) // len(points)} seed(s)"
        ylabel = "evaluation return (deterministic)"
    else:
        band(per_step("return_mean"), "evaluation (deterministic)", "tab:blue")
        band(per_step("train_return"), "training episodes (sampled)", "tab:orange")
        title += f", {len(seeds)} seed(s)"
        ylabel = "episode return"
    ax.set(title=title, xlabel="env steps", ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = path or run_dir / "learning_curve.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
