"""How a multi-seed run spreads over several devices: whole seeds per device or sharded envs.

`lamour train ENV --seeds S` on D devices shards each seed's env batch over all D devices,
which averages every minibatch gradient across them. `run_training(layout="members")` places
whole seeds on each device instead (`lamour_jax.learner.run.member_sharding`, S must divide by
D): every device trains its own seeds and no gradient crosses devices. This times both
through `run_training` (what `lamour train` runs, evaluation included), each in a fresh
process with D forced host devices, next to the same run on one device:

    python benchmarks/policy_layout.py [--env hopper] [--seeds 2] [--devices 2] [--periods 4]

Env steps/s: the median over the evaluation periods after the first, all seeds counted.
Writes benchmarks/results/policy_layout_<tag>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
CASES = (("one device", 1, "envs"), ("sharded envs", None, "envs"),
         ("whole seeds per device", None, "members"))


def measure(env_name: str, seeds: int, periods: int, iterations: int, layout: str) -> dict:
    import jax

    from lamour_jax.envs import make
    from lamour_jax.learner import default_config, make_train
    from lamour_jax.learner.run import run_training

    config = default_config(env_name)
    per_period = config.num_envs * config.unroll_length * iterations
    config = config.replace(eval_every=per_period, total_steps=per_period * periods)
    trainer = make_train(make(env_name, episode_length=config.episode_length), config)
    with tempfile.TemporaryDirectory() as run_dir:
        result = run_training(trainer, Path(run_dir), seeds=seeds, progress=False,
                              layout=layout)
    sps = [row["sps"] for row in result.history if row["seed"] == 0][1:]
    return {"devices": jax.device_count(), "compile_s": round(result.compile_s, 1),
            "sps_median": statistics.median(sps), "sps": sps,
            "steps_per_period": per_period * seeds}


def run_case(args: argparse.Namespace, devices: int, layout: str) -> dict:
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}"
    out = subprocess.run(
        [sys.executable, __file__, "--child", layout, "--env", args.env, "--seeds",
         str(args.seeds), "--periods", str(args.periods), "--iterations", str(args.iterations)],
        env={**os.environ, "XLA_FLAGS": flags.strip()}, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{devices} device(s), layout {layout} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="hopper")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--periods", type=int, default=4, help="evaluation periods per run")
    p.add_argument("--iterations", type=int, default=20, help="training iterations per period")
    p.add_argument("--tag", default="cpu")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args.env, args.seeds, args.periods, args.iterations,
                                 args.child)))
        return
    rows = []
    for name, devices, layout in CASES:
        result = run_case(args, devices or args.devices, layout)
        rows.append({"case": name, "layout": layout, **result})
        print(f"{name}: {result['sps_median']:,.0f} env steps/s "
              f"(compile {result['compile_s']} s)", file=sys.stderr, flush=True)
    base = rows[0]["sps_median"]
    lines = [f"# {args.env}: {args.seeds} seeds on {args.devices} devices, two layouts",
             "", f"`python benchmarks/policy_layout.py --env {args.env} --seeds {args.seeds} "
             f"--devices {args.devices} --periods {args.periods} --iterations "
             f"{args.iterations}`; {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} CPUs. `run_training` with the env's default config, "
             f"{rows[0]['steps_per_period']:,} env steps per evaluation period (all seeds), "
             "median over the periods after the first.", "",
             "| layout | devices | env steps/s | vs one device | compile |",
             "|---|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['case']} | {row['devices']} | {row['sps_median']:,.0f} | "
                     f"{row['sps_median'] / base:.2f}x | {row['compile_s']} s |")
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"policy_layout_{args.tag}"
    stem.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
