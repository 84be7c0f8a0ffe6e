"""`lamour demo`: the main job end to end on a CPU, on embedded defaults.

1. render the OOD state and run the three generation stages (offline reference answers
   unless a model is named), transpile and check the program;
2. retrain the shipped original policy with LaMOuR on the OOD env;
3. evaluate the original and the retrained policy on the same OOD starts and print the
   before/after table, the learning-curve plot and before/after videos; where the env's
   recovery takes longer than a demo, the shipped recovered policy joins them.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from lamour_jax.generate import GenerateOptions, OfflineModel, generate
from lamour_jax.learner.evaluate import evaluate_policy
from lamour_jax.learner.policy import load
from lamour_jax.params import DEMOS
from lamour_jax.policies import shipped_policy, shipped_recovered
from lamour_jax.recovery import RecoverySpec, run_recovery
from lamour_jax.recovery.report import best_member, best_members, last_rows, plot
from lamour_jax.recovery.run import BEFORE_EPISODES
from lamour_jax.runtime.lock import holds_run_dir
from lamour_jax.runtime.run_dir import RunDir


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _pct(v: float) -> str:
    return f"{v:.0%}"


# Held whole: a second demo on the same folder must not delete this one's output below.
@holds_run_dir("out")
def run_demo(env_name: str, steps: int, out: Path, overrides: list[str],
             progress: bool = True, video: bool = True, physics: str | None = None) -> int:
    t0 = time.perf_counter()
    policy_dir = shipped_policy(env_name)
    if policy_dir is None:
        raise ValueError(f"no shipped original policy for {env_name}")
    for part in ("generate", "recover"):  # the demo's own output from an earlier run
        shutil.rmtree(out / part, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)

    _log(f"== 1/3 reward generation for {env_name} (offline reference answers) ==")
    result = generate(GenerateOptions(env_name, out / "generate"), OfflineModel(env_name),
                      log=_log)
    _log(f"OOD image: {out / 'generate' / 'ood.png'}; reward program: "
         f"{out / 'generate' / 'reward.py'} (sha256 {result.chosen.program.sha256[:12]})")

    _log(f"\n== 2/3 LaMOuR retraining of the shipped {env_name} policy ({steps:,} steps) ==")
    demo = DEMOS[env_name]
    spec = RecoverySpec(env=env_name, method="lamour", steps=steps, seeds=demo.seeds,
                        num_envs=demo.num_envs, overrides=[*demo.ppo, *overrides],
                        physics=physics)
    physics = spec.physics
    rec = out / "recover"
    summary = run_recovery(spec, policy_dir, [("reward.py", result.chosen.path.read_text())],
                           rec, progress=progress, log=_log)

    _log("\n== 3/3 before/after on the same OOD starts ==")
    history = RunDir(rec).history()
    recovered_seeds = sum(row["recovery_rate"] > 0
                          for row in last_rows(history, best_members(summary)))
    chosen = best_member(summary, history)
    shipped = shipped_recovered(env_name)
    films = []
    if video:  # the films evaluate the batches the table needs: no second evaluation
        from lamour_jax.recovery.videos import write_videos

        films = write_videos(rec, spec, policy_dir, chosen,
                             others={"shipped": shipped} if shipped else None)
        stats = {film.name: film.stats for film in films}
        after, shipped_after = stats["after"], stats.get("shipped")
    else:  # the batches the films would evaluate: same starts, each policy's episode length
        def ood_batch(folder: Path, member: int) -> dict:
            policy = load(folder)
            return evaluate_policy(env_name, "ood", spec.mode, policy.act_fn(member),
                                   BEFORE_EPISODES, spec.seed + 1,
                                   policy.meta.get("episode_length", 1000), physics)

        after = ood_batch(rec / "best", chosen)
        shipped_after = ood_batch(shipped, 0) if shipped else None
    before = summary["before"]["ood"]
    runs = {"lamour": (summary, history)}
    if shipped is not None:  # the shipped policy's own run, for scale beside the short one
        runs["shipped policy's run"] = (json.loads((shipped / "summary.json").read_text()),
                                        RunDir(shipped).history())
    figure = plot(env_name, runs, summary["before"], out / "curves.png")
    rows = [("original policy", before),
            (f"after LaMOuR ({summary['steps']:,} steps; best of {spec.seeds} seeds, "
             f"{recovered_seeds} of {spec.seeds} recover)", after)]
    if shipped_after is not None:
        trained = json.loads((shipped / "config.json").read_text())
        rows.append((f"shipped recovered policy ({trained['steps']:,} steps of "
                     f"{trained['ppo']['learner'].upper()}, lamour_jax/policies/recovered/"
                     f"{env_name})", shipped_after))
    lines = [f"| {env_name}, {BEFORE_EPISODES} OOD starts | recovery rate | OOD return "
             "(mean ± std) | median steps to recover |", "|---|---:|---:|---:|"]
    for name, r in rows:
        median = r["steps_to_recovery_median"]
        lines.append(f"| {name} | {_pct(r['recovery_rate'])} | {r['return_mean']:.1f} ± "
                     f"{r['return_std']:.1f} | {'-' if median is None else f'{median:.0f}'} |")
    table = "\n".join(lines)
    videos = "".join(f"\nvideo: {film.path} ({film.shows})" for film in films)
    minutes = (time.perf_counter() - t0) / 60
    (out / "summary.md").write_text(
        f"# lamour demo: {env_name}\n\nbehaviour: {result.behaviour}\n\n{table}\n\n"
        f"![curves](curves.png)\n\n{minutes:.1f} min in all.\n")
    (out / "after.json").write_text(json.dumps(after, indent=2))
    print(f"\n{table}\n\nplot: {figure}{videos}\nsummary: {out / 'summary.md'} "
          f"({minutes:.1f} min)")
    return 0
