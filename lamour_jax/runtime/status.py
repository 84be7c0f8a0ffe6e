"""`lamour runs`: what the run folders under a directory are doing, read from their files.

A sweep or a cluster queue leaves many run folders; this says of each one what it trains,
how far it got, how its last evaluation went and whether it is running (someone holds its
lock, `runtime.lock`), finished, or stopped and how (NaN, stall, interrupted: resumable). Nothing
is written and no JAX program runs, so it is safe next to the runs it lists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lamour_jax.runtime.checkpoint import saved_periods
from lamour_jax.runtime.lock import holder
from lamour_jax.runtime.run_dir import RunDir

# Subfolders of a run that hold exported policies, never a run of their own.
_NOT_RUNS = {"checkpoints", "policy", "best", "peak", "tensorboard", "rewards"}


def find_runs(root: Path) -> list[Path]:
    """Every folder at or under `root` whose run record describes a training program, sorted
    by path."""
    root = Path(root)
    found = []
    for path in sorted(root.rglob(RunDir.RECORD)):
        if _NOT_RUNS & set(path.relative_to(root).parts[:-1]):
            continue
        if RunDir(path.parent).trains():
            found.append(path.parent)
    return found


def _last_evaluation(run_dir: Path) -> list[dict[str, Any]]:
    try:
        rows = RunDir(run_dir).history()
    except (OSError, ValueError):
        return []
    last = max((row.get("eval", 0) for row in rows), default=0)
    return [row for row in rows if row.get("eval") == last]


def _report_eval(run_dir: Path, name: str) -> int | None:
    try:
        return int(json.loads((run_dir / name).read_text())["eval"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_status(run_dir: Path) -> dict[str, Any]:
    """One run folder's state, as `lamour runs` shows it."""
    run_dir = Path(run_dir)
    status: dict[str, Any] = {"run": str(run_dir)}
    try:
        record = RunDir(run_dir).read()
    except ValueError as err:
        return {**status, "state": f"unreadable {RunDir.RECORD} ({err})"}
    config = record.ppo
    recovery = record.kind == "recovery"
    status["what"] = (f"recover {record.env} {record.get('method', '')}".strip() if recovery
                      else f"train {record.env}")
    periods = saved_periods(run_dir)
    status["steps_done"] = periods * config.steps_per_eval
    status["steps_planned"] = config.num_evals * config.steps_per_eval
    last = _last_evaluation(run_dir)
    rows = [row for row in last if not row.get("diverged")]
    status["policies"] = len(last) or None
    status["return_mean"] = float(np.mean([r["return_mean"] for r in rows])) if rows else None
    if recovery and rows and all("recovery_rate" in r for r in rows):
        status["recovery_rate"] = float(np.mean([r["recovery_rate"] for r in rows]))
    writer = holder(run_dir)
    if writer is not None:
        status["state"] = f"running ({writer.split(', `')[0]})"
    elif status["steps_done"] >= status["steps_planned"]:
        status["state"] = "finished"
    elif _report_eval(run_dir, "nan_report.json") == periods + 1:
        status["state"] = "stopped: NaN/inf (nan_report.json)"
    elif _report_eval(run_dir, "stall_report.json") == periods + 1:
        status["state"] = "stopped: stalled (stall_report.json)"
    elif periods == 0 and not RunDir(run_dir).checkpoints.is_dir() and (
            run_dir / "policy.json").is_file():  # a shipped or archived policy
        status["state"] = "policy only (no checkpoints)"
        status["steps_done"] = None  # not recorded: only the training run knew
    elif periods == 0:
        status["state"] = "stopped before its first checkpoint"
    else:
        status["state"] = "stopped (--resume continues it)"
    return status


def status_table(statuses: list[dict[str, Any]], root: Path) -> str:
    lines = ["| run | what | steps done / planned | policies | last evaluation | state |",
             "|---|---|---:|---:|---|---|"]
    for s in statuses:
        name = str(Path(s["run"]).relative_to(root)) if Path(s["run"]) != Path(root) else "."
        if "steps_done" not in s:
            lines.append(f"| {name} | | | | | {s['state']} |")
            continue
        last = "" if s["return_mean"] is None else f"return {s['return_mean']:.1f}"
        if s.get("recovery_rate") is not None:
            last += f", {s['recovery_rate']:.0%} recover"
        done = "-" if s["steps_done"] is None else f"{s['steps_done']:,}"
        lines.append(f"| {name} | {s['what']} | {done} / {s['steps_planned']:,} | "
                     f"{s['policies'] or ''} | {last} | {s['state']} |")
    return "\n".join(lines)
