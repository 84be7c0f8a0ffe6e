"""After a comparison: every method's final policies (its best candidate's seeds) and the
original, evaluated on the same starts of three kinds: the paper-mode OOD starts the methods
trained on, the diverse OOD set (fallen states settled by passive simulation: the harder test,
unseen in paper-mode training) and the Normal env (retention).

The training run's own last evaluation uses few episodes per seed (`eval_envs`); this one
uses `FINAL_EPISODES` per seed and per kind, and is written to the method's run folder
(`final_eval.json`) so that a rerun of the comparison reads it back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lamour_jax.learner.evaluate import evaluate_policies, evaluate_policy
from lamour_jax.learner.policy import load

FINAL_EPISODES = 32
# name -> (variant, sampler mode)
KINDS = {"paper": ("ood", "paper"), "diverse": ("ood", "diverse"), "normal": ("normal", "paper")}
# Another seed than the before/after evaluations' (seed + 1), so these are fresh starts.
SEED_OFFSET = 101


def _cached(path: Path, stamp: dict[str, Any], compute: Callable[[], Any]) -> Any:
    """`compute()`'s kinds, kept in `path` under `stamp` (what they were computed for) and read
    back while the stamp matches. An unreadable file (cut short, edited) is computed anew:
    it holds nothing the policies cannot give again."""
    stamp = {**stamp, "episodes": FINAL_EPISODES}
    try:
        saved = json.loads(path.read_text())
        if isinstance(saved, dict) and all(saved.get(k) == v for k, v in stamp.items()):
            return saved["kinds"]
    except (OSError, ValueError):
        pass
    kinds = compute()
    path.write_text(json.dumps({**stamp, "kinds": kinds}, indent=2))
    return kinds


def evaluate_final(run_dir: Path, env: str, steps: int, seed: int, episode_length: int,
                   physics: str) -> dict[str, list[dict[str, Any]]]:
    """kind -> one summary per seed of the run's best candidate; cached in the run folder
    for the run's step count."""
    def compute() -> dict[str, list[dict[str, Any]]]:
        policy = load(Path(run_dir) / "best")
        return {kind: evaluate_policies(env, variant, mode, policy, FINAL_EPISODES,
                                        seed + SEED_OFFSET, episode_length, physics)
                for kind, (variant, mode) in KINDS.items()}

    return _cached(Path(run_dir) / "final_eval.json", {"steps": steps}, compute)


def evaluate_original_final(out: Path, policy_dir: Path, member: int, env: str, seed: int,
                            episode_length: int, physics: str) -> dict[str, dict[str, Any]]:
    """The original policy on the same starts (cached in the comparison folder)."""
    def compute() -> dict[str, dict[str, Any]]:
        act = load(policy_dir).act_fn(member)
        return {kind: evaluate_policy(env, variant, mode, act, FINAL_EPISODES,
                                      seed + SEED_OFFSET, episode_length, physics)
                for kind, (variant, mode) in KINDS.items()}

    return _cached(Path(out) / "original_final_eval.json", {}, compute)


def _over_seeds(rows: list[dict[str, Any]], key: str) -> tuple[float, float]:
    values = np.array([r[key] for r in rows], dtype=float)
    return float(values.mean()), float(values.std())


def final_table(env: str, finals: dict[str, dict[str, list[dict[str, Any]]]],
                original: dict[str, dict[str, Any]]) -> str:
    """finals: method -> kind -> per-seed summaries. Mean ± std over seeds (the original, one
    policy: its mean); the share of the original's Normal-env return beside each."""
    base = original["normal"]["return_mean"]
    success = "success_rate" in original["paper"]  # a task with a success test (PushChair)

    def share(value: float) -> str:
        return f" ({value / base:.0%})" if base > 0 else ""

    def successes(kinds: dict[str, list[dict[str, Any]]]) -> str:
        """The success rate per kind of start, the mean over seeds."""
        if not success:
            return ""
        return " | " + " / ".join(f"{_over_seeds(kinds[k], 'success_rate')[0]:.0%}"
                                  for k in KINDS)

    lines = [
        f"| {env}: method | OOD return, paper starts | recovery | OOD return, diverse starts | "
        "recovery | Normal-env return (retention) |"
        + (" success: paper / diverse / Normal starts |" if success else ""),
        "|---|---:|---:|---:|---:|---:|" + ("---:|" if success else ""),
        f"| original policy | {original['paper']['return_mean']:.1f}"
        f"{share(original['paper']['return_mean'])} | "
        f"{original['paper']['recovery_rate']:.0%} | {original['diverse']['return_mean']:.1f} | "
        f"{original['diverse']['recovery_rate']:.0%} | {base:.1f}"
        f"{successes({k: [v] for k, v in original.items()})} |",
    ]
    for method, kinds in finals.items():
        cells = []
        for kind in ("paper", "diverse"):
            ret, ret_sd = _over_seeds(kinds[kind], "return_mean")
            rate, rate_sd = _over_seeds(kinds[kind], "recovery_rate")
            cells += [f"{ret:.1f} ± {ret_sd:.1f}{share(ret)}", f"{rate:.0%} ± {rate_sd:.0%}"]
        normal, normal_sd = _over_seeds(kinds["normal"], "return_mean")
        cells.append(f"{normal:.1f} ± {normal_sd:.1f}{share(normal)}")
        lines.append(f"| {method} | " + " | ".join(cells) + f"{successes(kinds)} |")
    lines.append("")
    lines.append(f"{FINAL_EPISODES} episodes per seed and kind of start, the same starts for "
                 "every method; mean ± std over seeds (the original: one policy, its mean); in "
                 "brackets, the share of the original's Normal-env return."
                 + (" Success: the task's own test at the episode's end." if success else ""))
    return "\n".join(lines)


def final_per_seed(env: str, finals: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """Each seed's paper / diverse OOD return and Normal-env return."""
    seeds = max(len(k["paper"]) for k in finals.values())
    lines = [f"| {env}: seed | " + " | ".join(finals) + " |", "|---:|" + "---|" * len(finals)]
    for i in range(seeds):
        cells = []
        for kinds in finals.values():
            if i >= len(kinds["paper"]):
                cells.append("-")
                continue
            p, d, n = (kinds[k][i] for k in ("paper", "diverse", "normal"))
            done = ("; success " + " / ".join(f"{r['success_rate']:.0%}" for r in (p, d, n))
                    if "success_rate" in p else "")
            cells.append(f"{p['return_mean']:.0f} ({p['recovery_rate']:.0%}) / "
                         f"{d['return_mean']:.0f} ({d['recovery_rate']:.0%}) / "
                         f"{n['return_mean']:.0f}{done}")
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Each cell: OOD return (recovery rate) from paper starts / from diverse starts "
                 "/ Normal-env return" + ("; the success rate from each." if any(
                     "success_rate" in k["paper"][0] for k in finals.values()) else "."))
    return "\n".join(lines)
