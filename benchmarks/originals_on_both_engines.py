"""Each shipped original policy evaluated on both physics engines, Normal and OOD starts.

A policy trained on one engine meets slightly different physics on the other (contacts are
solved by two implementations; float paths differ), so its return can move. Per policy, engine
and variant: 32 episodes (the model cards' count), the deterministic policy, the same starts
on both engines (same seed). Writes benchmarks/results/originals_on_both_engines_<tag>.{md,json}.

    .venv/bin/python benchmarks/originals_on_both_engines.py [--episodes 32] [--tag cpu]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import jax

from lamour_jax.learner.evaluate import evaluate_policy
from lamour_jax.learner.policy import load
from lamour_jax.policies import shipped_policy

RESULTS = Path(__file__).parent / "results"
ORIGINALS = ("hopper", "hopper-dropout", "halfcheetah", "walker2d", "ant")
ENGINES = ("mjx", "native")


def _cell(stats: dict) -> str:
    return f"{stats['return_mean']:.1f} ± {stats['return_std']:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", default=",".join(ORIGINALS))
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="cpu")
    args = parser.parse_args()
    rows = []
    for name in args.policies.split(","):
        folder = shipped_policy(name)
        if folder is None:
            raise SystemExit(f"no shipped policy {name!r}; shipped: {', '.join(ORIGINALS)}")
        policy = load(folder)
        env, trained_on = policy.meta["env"], policy.meta.get("physics", "mjx")
        row = {"policy": name, "env": env, "trained_on": trained_on}
        for variant in ("normal", "ood"):
            for physics in ENGINES:
                tick = time.perf_counter()
                row[f"{variant}_{physics}"] = evaluate_policy(
                    env, variant, "paper", policy.act_fn(0), args.episodes, args.seed,
                    policy.meta.get("episode_length", 1000), physics)
                print(f"{name} {variant} on {physics}: "
                      f"{_cell(row[f'{variant}_{physics}'])} "
                      f"({time.perf_counter() - tick:.0f} s)", file=sys.stderr, flush=True)
        rows.append(row)

    lines = [f"Shipped originals on both engines: {args.episodes} episodes each (seed "
             f"{args.seed}, the same starts on both), deterministic policy, paper OOD starts; "
             f"{platform.processor() or platform.machine()}, jax {jax.__version__}, "
             f"{jax.default_backend()} backend.", "",
             "| policy | trained on | Normal, MJX | Normal, native | change | OOD, MJX | "
             "OOD, native | mean length Normal MJX / native |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        mjx, native = r["normal_mjx"], r["normal_native"]
        change = (native["return_mean"] - mjx["return_mean"]) / max(abs(mjx["return_mean"]), 1e-9)
        lines.append(
            f"| `{r['policy']}` | {r['trained_on']} | {_cell(mjx)} | {_cell(native)} | "
            f"{100 * change:+.1f} % | {_cell(r['ood_mjx'])} | {_cell(r['ood_native'])} | "
            f"{mjx['length_mean']:.0f} / {native['length_mean']:.0f} |")
    lines += ["", "Reproduce: `.venv/bin/python benchmarks/originals_on_both_engines.py "
              f"--episodes {args.episodes} --seed {args.seed} --tag {args.tag}`."]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"originals_on_both_engines_{args.tag}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"originals_on_both_engines_{args.tag}.json").write_text(
        json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
