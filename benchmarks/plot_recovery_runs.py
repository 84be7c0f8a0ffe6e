"""Plot several `lamour recover` runs side by side: OOD return, recovery rate and Normal-env
return against env steps, one line per run (member 0 of each; pass single-seed runs).

    python benchmarks/plot_recovery_runs.py OUT.png DIR=LABEL [DIR=LABEL ...]

Unlike `lamour compare` (one method per line, mean over seeds) this puts runs that differ in
anything (a setting, a seed) on one figure, and shows retention on the Normal env too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lamour_jax.runtime.run_dir import RunDir  # noqa: E402

PANELS = (("return_mean", "OOD-env return", "return"),
          ("recovery_rate", "recovery rate", "episodes reaching a valid state"),
          ("normal_return_mean", "Normal-env return (retention)", "return"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("runs", nargs="+", help="DIR=LABEL")
    args = parser.parse_args()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(15, 4.2))
    env = None
    for spec in args.runs:
        directory, _, label = spec.partition("=")
        rows = RunDir(directory).history()
        rows = [r for r in rows if r["member"] == 0]
        env = env or json.loads((Path(directory) / "config.json").read_text())["env"]
        steps = [r["step"] for r in rows]
        for ax, (key, _, _) in zip(axes, PANELS, strict=True):
            ax.plot(steps, [r.get(key) for r in rows], marker=".", label=label or directory)
    for ax, (_, title, ylabel) in zip(axes, PANELS, strict=True):
        ax.set(title=f"{env}: {title}", xlabel="env steps", ylabel=ylabel)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
