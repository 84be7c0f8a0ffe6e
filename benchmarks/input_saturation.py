"""How far OOD starts push each shipped original out of its trained input range, per input clip.

A retraining starts from the original actor with its frozen observation statistics. An OOD
start can put some inputs many (floored) standard deviations out; through a wide clip they can
saturate the actor: a pre-tanh action mean far beyond +-2 (tanh's flat end, where exploration
noise changes nothing) and a wide std head. That stalled every PushChair recovery until its clip
was lowered (benchmarks/results/pushchair_cpu.md). Per policy and kind of start: the largest
normalised input (unclipped), then per clip the median |pre-tanh mean|, the share of action
entries beyond |2| and the mean std of the deterministic actor. Resets only: no training.
Writes benchmarks/results/input_saturation_<tag>.{md,json}.

    .venv/bin/python benchmarks/input_saturation.py [--starts 32] [--tag cpu]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import jax
import jax.numpy as jnp

from lamour_jax.envs import make
from lamour_jax.learner.policy import load
from lamour_jax.policies import shipped_policies, shipped_policy

RESULTS = Path(__file__).parent / "results"
CLIPS = (100.0, 10.0, 5.0, 3.0)


def measure(name: str, starts: int, seed: int) -> list[dict]:
    env_name = name.removesuffix("-dropout")
    policy = load(shipped_policy(env_name, dropout=name != env_name))
    stats = policy.member(0)["obs_stats"]
    rows = []
    for variant in ("normal", "ood"):
        env = make(env_name, variant)
        obs = jax.vmap(env.reset)(jax.random.split(jax.random.key(seed), starts)).obs
        if policy.fns.normalize_observations:
            z = stats.normalize(obs, clip=float("inf"), std_floor=policy.fns.obs_std_floor)
            largest = float(jnp.max(jnp.abs(z)))
        else:
            largest = None  # raw observations: no clip applies
        for clip in CLIPS if largest is not None else (None,):
            mean, std = policy.distribution(obs, obs_clip=clip)
            rows.append({
                "policy": name, "starts": variant, "clip": clip, "largest_input": largest,
                "median_abs_mean": float(jnp.median(jnp.abs(mean))),
                "share_beyond_2": float(jnp.mean(jnp.abs(mean) > 2.0)),
                "mean_std": float(jnp.mean(std))})
    return rows


def _fmt(value: float | None, digits: int = 2) -> str:
    return "raw" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", default=",".join(shipped_policies()))
    parser.add_argument("--starts", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tag", default="cpu")
    args = parser.parse_args()
    rows = [row for name in args.policies.split(",") for row in
            measure(name, args.starts, args.seed)]
    lines = [
        f"# Shipped originals at Normal and OOD starts, per input clip ({args.starts} starts "
        f"each, seed {args.seed}; {platform.machine()}, jax {jax.__version__})", "",
        "Largest input: the largest |normalised input| over the starts, before any clip "
        "(in floored stds). Median |mean|: of the deterministic actor's pre-tanh action mean; "
        "beyond 2: the share of action entries in tanh's flat end; std: the actor's mean "
        "Gaussian std. `raw`: an actor on raw observations (no normaliser, no clip).", "",
        "| policy | starts | largest input | clip | median \\|mean\\| | beyond 2 | std |",
        "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['policy']} | {r['starts']} | {_fmt(r['largest_input'], 1)} | "
              f"{_fmt(r['clip'], 0)} | {r['median_abs_mean']:.2f} | "
              f"{100 * r['share_beyond_2']:.0f} % | {r['mean_std']:.2f} |" for r in rows]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"input_saturation_{args.tag}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"input_saturation_{args.tag}.json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
