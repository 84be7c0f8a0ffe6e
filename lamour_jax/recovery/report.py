"""Comparison reports: a Markdown table and the paper-style figure (OOD return and recovery
rate against steps from the original at step 0, mean ± std over seeds, the original's own
figures on the Normal env dashed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lamour_jax.params import recovery_params
from lamour_jax.runtime.loop import recorded

COLORS = {"lamour": "tab:red", "sero": "tab:blue", "zero": "tab:green", "env": "tab:gray"}


def curves(history: list[dict[str, Any]], members: list[int], keys: Sequence[str],
           start: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Per evaluation: steps, and mean/std over the given members of each metric in `keys`.

    `start`, the original's evaluation on the same starts (before.json's "ood"), is the
    curve's point at step 0: every member begins as the original, and a run's first
    evaluation comes only after its first period (1M steps on PushChair)."""
    evals = sorted({r["eval"] for r in history})
    steps = [next(r["step"] for r in history if r["eval"] == e) for e in evals]
    out: dict[str, Any] = {"step": np.array(([0] if start is not None else []) + steps)}
    for key in keys:
        table = np.array([[next((r[key] for r in history
                                 if r["eval"] == e and r["member"] == m), None)
                           for m in members] for e in evals], dtype=float)  # None -> NaN
        mean, sd = table.mean(1), table.std(1)
        if start is not None:
            first = start.get(key)
            mean = np.concatenate([[np.nan if first is None else first], mean])
            sd = np.concatenate([[0.0], sd])
        out[key], out[key + "_sd"] = mean, sd
    return out


def best_members(summary: dict[str, Any]) -> list[int]:
    best = next(c["index"] for c in summary["candidates"] if c["candidate"] == summary["best"])
    return list(range(best * summary["seeds"], (best + 1) * summary["seeds"]))


def last_rows(history: list[dict[str, Any]], members: list[int]) -> list[dict[str, Any]]:
    """The members' metrics rows of the last evaluation."""
    last = max(r["eval"] for r in history)
    return [r for r in history if r["eval"] == last and r["member"] in members]


def _top_member(rows: list[dict[str, Any]], first_member: int) -> int:
    top = max(rows, key=lambda r: (r["recovery_rate"], r["return_mean"]))
    return top["member"] - first_member


def best_member(summary: dict[str, Any], history: list[dict[str, Any]]) -> int:
    """The seed of the best candidate (an index into DIR/best) whose last evaluation
    recovered most often, then returned most."""
    members = best_members(summary)
    return _top_member(last_rows(history, members), members[0])


def peak_member(summary: dict[str, Any], history: list[dict[str, Any]]) -> int:
    """The same for DIR/peak: the seed of its candidate that did best at that evaluation."""
    peak, seeds = summary["peak"], summary["seeds"]
    k = next(c["index"] for c in summary["candidates"] if c["candidate"] == peak["candidate"])
    rows = [r for r in history
            if r["eval"] == peak["eval"] and k * seeds <= r["member"] < (k + 1) * seeds]
    return _top_member(rows, k * seeds)


def final_row(history: list[dict[str, Any]], members: list[int]) -> dict[str, float]:
    rows = last_rows(history, members)
    steps = recorded(rows, "steps_to_recovery_median")
    return {
        "step": rows[0]["step"],
        "return_mean": float(recorded(rows, "return_mean").mean()),
        "return_sd": float(recorded(rows, "return_mean").std()),
        "recovery_rate": float(recorded(rows, "recovery_rate").mean()),
        "recovery_sd": float(recorded(rows, "recovery_rate").std()),
        "steps_to_recovery": float(np.median(steps)) if steps.size else float("nan"),
        "normal_return_mean": float(recorded(rows, "normal_return_mean").mean()),
        # tasks with a success test (PushChair): its headline, from OOD starts
        **({"success_rate": float(recorded(rows, "success_rate").mean())}
           if "success_rate" in rows[0] else {}),
    }


def before_after_table(summary: dict[str, Any], history: list[dict[str, Any]]) -> str:
    o, n = summary["before"]["ood"], summary["before"]["normal"]
    f = final_row(history, best_members(summary))
    pct = lambda v: f"{v:.0%}"  # noqa: E731
    lines = [
        f"| {summary['env']} | recovery rate (OOD starts) | OOD return | "
        "Normal-env return |", "|---|---:|---:|---:|",
        f"| original policy | {pct(o['recovery_rate'])} | {o['return_mean']:.1f} | "
        f"{n['return_mean']:.1f} |",
        f"| after {summary['method']} ({f['step']:,} steps, {summary['seeds']} seed(s)) | "
        f"{pct(f['recovery_rate'])} | {f['return_mean']:.1f} | "
        f"{f['normal_return_mean']:.1f} |"]
    peak = summary.get("peak")
    if peak and peak["step"] != f["step"]:  # an earlier evaluation did better: DIR/peak
        lines.append(f"| its best evaluation ({peak['step']:,} steps, peak/) | "
                     f"{pct(peak['recovery_rate'])} | {peak['return_mean']:.1f} | "
                     f"{peak['normal_return_mean']:.1f} |")
    return "\n".join(lines)


def markdown_table(env: str, runs: dict[str, tuple[dict, list]], before: dict[str, Any]
                   ) -> str:
    """runs: method -> (summary, history)."""
    o, n = before["ood"], before["normal"]
    success = "success_rate" in o  # a task with a success test: a column of its own
    head, rule = (" success (OOD starts) |", "---:|") if success else ("", "")
    cell = lambda row: f" {row['success_rate']:.0%} |" if success else ""  # noqa: E731
    lines = [
        f"| {env}: method | steps | OOD return (mean ± std over seeds) | recovery rate | "
        f"median steps to recover | Normal-env return (retention) |{head}",
        f"|---|---:|---:|---:|---:|---:|{rule}",
        f"| original policy (before) | 0 | {o['return_mean']:.1f} ± {o['return_std']:.1f}* | "
        f"{o['recovery_rate']:.0%} | {_fmt(o['steps_to_recovery_median'])} | "
        f"{n['return_mean']:.1f} |{cell(o)}",
    ]
    for method, (summary, history) in runs.items():
        f = final_row(history, best_members(summary))
        lines.append(
            f"| {method} | {f['step']:,} | {f['return_mean']:.1f} ± {f['return_sd']:.1f} | "
            f"{f['recovery_rate']:.0%} ± {f['recovery_sd']:.0%} | "
            f"{_fmt(f['steps_to_recovery'])} | {f['normal_return_mean']:.1f} |{cell(f)}")
    lines.append("")
    lines.append(f"*the original policy's row: std over {o['episodes']} episodes, not seeds.")
    return "\n".join(lines)


def per_seed_table(env: str, runs: dict[str, tuple[dict, list]]) -> str:
    """The last evaluation of every seed (of each method's best candidate): a mean over five
    seeds hides whether all got up or some lay still, which is what decides between methods."""
    finals = {m: sorted(last_rows(h, best_members(s)), key=lambda r: r["member"])
              for m, (s, h) in runs.items()}
    seeds = max(len(rows) for rows in finals.values())
    lines = [f"| {env}: seed | " + " | ".join(finals) + " |",
             "|---:|" + "---|" * len(finals)]
    for i in range(seeds):
        cells = [(f"{rows[i]['return_mean']:.1f}, {rows[i]['recovery_rate']:.0%}, "
                  f"{rows[i]['normal_return_mean']:.1f}") if i < len(rows) else "-"
                 for rows in finals.values()]
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Each cell: OOD return, recovery rate, Normal-env return at the last evaluation.")
    return "\n".join(lines)


# Final OOD-env return per method in the paper (SAC, one env, 1M steps; 4M for humanoid and
# pushchair; 5 seeds), read off its figures (spec section 6), and the original's Normal-env return.
PAPER_RESULTS: dict[str, dict[str, str]] = {
    "ant": {"original": "6.1k", "lamour": "5.9k", "sero": "4.9k", "zero": "0.3k", "env": "0"},
    "halfcheetah": {"original": "12.3k", "lamour": "12.0k", "sero": "12.3k", "zero": "0",
                    "env": "0"},
    "hopper": {"original": "3.35k", "lamour": "3.3k", "sero": "3.0k", "zero": "2.0k",
               "env": "0"},
    "walker2d": {"original": "4.1k", "lamour": "4.2k", "sero": "3.4k", "zero": "0.7k",
                 "env": "0"},
    "humanoid": {"original": "273", "lamour": "250", "sero": "0", "zero": "0", "env": "0"},
    "pushchair": {"original": "241", "lamour": "200-250", "sero": "0", "zero": "0",
                  "env": "0",
                  "note": "returns on ManiSkill2's reward scale, not this env's; success from "
                          "OOD starts lamour 79.8 %, the original from valid starts 82 %"},
}


def paper_reference(env: str, methods: list[str]) -> str:
    """One sentence setting a report against the paper's figures; '' for other envs."""
    paper = PAPER_RESULTS.get(env)
    if paper is None:
        return ""
    budget = f"{recovery_params(env).steps / 1e6:.0f}M"  # the paper's, as params.py keeps it
    finals = ", ".join(f"{m} ≈{paper[m]}" for m in methods if m in paper)
    note = f" ({paper['note']})" if "note" in paper else ""
    return (f"The paper (SAC, one env, {budget} steps, 5 seeds; read off its figures): "
            f"original policy ≈{paper['original']} on the Normal env; final OOD return "
            f"{finals}{note}.")


def _fmt(value: float | None) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.0f}"


def panels(runs: dict[str, tuple[dict, list]]) -> list[tuple[str, str, str]]:
    """The plot's panels (metric, title, y label): OOD return and recovery rate, and the
    success rate where the env has a success test (its runs log one)."""
    out = [("return_mean", "OOD-env return", "return"),
           ("recovery_rate", "recovery rate", "episodes reaching a valid state")]
    if runs and all("success_rate" in r for _, history in runs.values() for r in history):
        out.append(("success_rate", "success from OOD starts", "episodes ending in success"))
    return out


def plot(env: str, runs: dict[str, tuple[dict, list]], before: dict[str, Any], path: Path
         ) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = panels(runs)
    fig, axes = plt.subplots(1, len(shown), figsize=(5.5 * len(shown), 4.6))
    for k, (method, (summary, history)) in enumerate(runs.items()):
        c = curves(history, best_members(summary), [key for key, _, _ in shown],
                   start=before.get("ood"))
        color = COLORS.get(method, f"C{4 + k}")  # others: colours the methods do not use
        label = f"{method} ({summary['seeds']} seeds)"
        # Bands: mean ± std over seeds; a rate's band is kept inside [0, 1].
        for ax, (key, _, _) in zip(axes, shown, strict=True):
            low, high = (-np.inf, np.inf) if key == "return_mean" else (0.0, 1.0)
            ax.plot(c["step"], c[key], label=label, color=color,
                    marker="o" if len(c["step"]) < 3 else None)
            ax.fill_between(c["step"], np.clip(c[key] - c[key + "_sd"], low, high),
                            np.clip(c[key] + c[key + "_sd"], low, high), color=color, alpha=0.2)
    for ax, (key, title, ylabel) in zip(axes, shown, strict=True):
        # The reference each panel is read against: what the original scores on its own task.
        if key != "recovery_rate" and before["normal"].get(key) is not None:
            ax.axhline(before["normal"][key], color="black", linestyle="--",
                       label="original policy, Normal env" if ax is axes[0] else None)
        ax.set(title=f"{env}: {title}", xlabel="env steps", ylabel=ylabel)
        if key != "return_mean":
            ax.set_ylim(-0.02, 1.02)
    # One legend under the panels, where it cannot cover a curve.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9,
               frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
