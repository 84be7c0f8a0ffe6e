"""Plot several `lamour recover` runs side by side: OOD return, recovery rate and Normal-env
return against env steps, one line per run: member 0 of each, or with `--seeds mean` the mean
over each run's seeds with a band from its lowest seed to its highest.

    python benchmarks/plot_recovery_runs.py OUT.png DIR=LABEL [DIR=LABEL ...] [--seeds mean]

Unlike `lamour compare` (one method per line, mean over seeds) this puts runs that differ in
anything (a setting, a seed) on one figure, and shows retention on the Normal env too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib
import numpy as np

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
    parser.add_argument("--seeds", choices=("first", "mean"), default="first",
                        help="plot member 0 of each run (default) or the mean over its members")
    args = parser.parse_args()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(15, 4.2))
    env = None
    for spec in args.runs:
        directory, _, label = spec.partition("=")
        rows = RunDir(directory).history()
        if args.seeds == "first":
            rows = [r for r in rows if r["member"] == 0]
        env = env or json.loads((Path(directory) / "config.json").read_text())["env"]
        steps = sorted({r["step"] for r in rows})
        members = sorted({r["member"] for r in rows})
        for ax, (key, _, _) in zip(axes, PANELS, strict=True):
            # NaN where a member has no value (a diverged member's rows carry none): a gap in
            # the line, as a single run's missing value is, not a failed plot.
            values = np.full((len(steps), len(members)), np.nan)
            for r in rows:
                values[steps.index(r["step"]), members.index(r["member"])] = r.get(key, np.nan)
            band = f" (mean of {len(members)}, band: min-max)" if len(members) > 1 else ""
            line, = ax.plot(steps, np.nanmean(values, axis=1), marker=".",
                            label=f"{label or directory}{band}")
            if len(members) > 1:
                ax.fill_between(steps, np.nanmin(values, axis=1), np.nanmax(values, axis=1),
                                alpha=0.15, color=line.get_color())
    for ax, (_, title, ylabel) in zip(axes, PANELS, strict=True):
        ax.set(title=f"{env}: {title}", xlabel="env steps", ylabel=ylabel)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
