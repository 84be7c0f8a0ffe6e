"""`lamour tour`: a look at every env. Sample OOD states in both sampler modes, check them
with the env's own validity test, measure how often random actions recover from them,
render them, and print one summary table."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import numpy as np

from lamour_jax import render
from lamour_jax.envs import make
from lamour_jax.envs.rollout import rollout
from lamour_jax.envs.starts import sample_states, settle

ROLLOUT_STEPS = 200
# The ant's spawn joint angles (all 0) lie flat, so a flipped ant looks like an upright one;
# a short passive settle lets the joint limits lift its legs, which shows the flip.
RENDER_SETTLE_S = {"ant": 0.3}


def _random_policy_recovery(name: str, qpos: np.ndarray, qvel: np.ndarray, seed: int,
                            physics: str) -> tuple[float, float]:
    env = make(name, "ood", physics=physics)
    keys = jax.random.split(jax.random.key(seed), len(qpos))
    state = jax.vmap(env.reset_to)(keys, qpos, qvel)
    _, trace = rollout(env, state, jax.random.key(seed + 1), ROLLOUT_STEPS)
    recovered = np.asarray(trace["recovered_once"][-1])
    masked_return = np.asarray(trace["reward"]).sum(0)
    return float(recovered.mean()), float(masked_return.mean())


def run_tour(names: list[str], n: int, out: Path, physics: str | None = None) -> int:
    out.mkdir(parents=True, exist_ok=True)
    rows, sheets = [], []
    for name in names:
        t0 = time.perf_counter()
        print(f"[{name}] sampling normal, paper and diverse starts ({n} each) ...",
              file=sys.stderr, flush=True)
        normal = sample_states(name, "paper", n, 0, normal=True, physics=physics)
        paper = sample_states(name, "paper", n, 0, physics=physics)
        diverse = sample_states(name, "diverse", n, 0, physics=physics)
        print(f"[{name}] {ROLLOUT_STEPS} random-action steps from the OOD states ...",
              file=sys.stderr, flush=True)
        rec, ret = _random_policy_recovery(name, paper["qpos"], paper["qvel"], 0, physics)

        env = make(name, "ood", physics=physics)
        seconds = RENDER_SETTLE_S.get(name, 0.0)
        shown = [settle(env, paper["qpos"][0], paper["qvel"][0], seconds)]
        shown += [diverse["qpos"][i] for i in range(min(3, n))]
        frames = render.render_frames(env, [np.asarray(q) for q in shown], 320, 240)
        sheet = render.grid(frames, 4)
        path = render.save_png(sheet, out / f"{name}_ood.png")
        sheets.append(sheet)
        rows.append({
            "env": name, "obs": env.observation_size, "act": env.action_size,
            "normal_valid": normal["valid"].mean(), "paper_invalid": (~paper["valid"]).mean(),
            "diverse_invalid": (~diverse["valid"]).mean(), "random_recovery": rec,
            "random_return": ret, "seconds": time.perf_counter() - t0, "image": str(path),
        })
    render.save_png(np.concatenate(sheets), out / "all_ood.png")

    header = ("| env | obs | act | Normal starts valid | OOD paper invalid | OOD diverse invalid "
              f"| random policy recovers ({ROLLOUT_STEPS} steps) | masked return | time (s) "
              "| image |")
    lines = [header, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['env']} | {r['obs']} | {r['act']} | {r['normal_valid']:.0%} | "
            f"{r['paper_invalid']:.0%} | {r['diverse_invalid']:.0%} | {r['random_recovery']:.0%} "
            f"| {r['random_return']:.1f} | {r['seconds']:.0f} | {r['image']} |")
    table = "\n".join(lines)
    (out / "summary.md").write_text(
        f"# lamour tour: OOD states of every env\n\n{n} states per env and mode.\n\n{table}\n")
    print(table)
    print(f"\nContact sheet (per row: paper OOD start, then 3 diverse OOD starts): "
          f"{out / 'all_ood.png'}")
    return 0
