"""Env steps per second: jit + vmap + lax.scan, random actions, auto-reset on, per env and
batch size. Writes a JSON record and a Markdown table to benchmarks/results/.

    .venv/bin/python benchmarks/env_throughput.py                  # defaults for this CPU
    .venv/bin/python benchmarks/env_throughput.py --batch-sizes 1024,4096,16384 --steps 100
    .venv/bin/python benchmarks/env_throughput.py --physics native --tag cpu-native

One "env step" is one control step of one env (n_frames physics steps). Timings exclude
compilation (reported separately) and take the best of --repeats runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import jax
import jax.numpy as jnp

from lamour_jax.envs import ENV_NAMES, make
from lamour_jax.envs.wrappers import AutoResetBatch

RESULTS = Path(__file__).parent / "results"


def measure(name: str, variant: str, batch: int, steps: int, repeats: int,
            physics: str) -> dict:
    env = AutoResetBatch(make(name, variant, physics=physics), batch)

    @jax.jit
    def run(state, key):
        def body(s, k):
            action = jax.random.uniform(k, (batch, env.env.action_size), minval=-1, maxval=1)
            s = env.step(s, action)
            return s, s.reward.mean()

        return jax.lax.scan(body, state, jax.random.split(key, steps))

    state = jax.jit(env.reset)(jax.random.key(0))
    t0 = time.perf_counter()
    state, rewards = run(state, jax.random.key(1))
    jax.block_until_ready(rewards)
    compile_s = time.perf_counter() - t0
    best = float("inf")
    for r in range(repeats):
        t0 = time.perf_counter()
        state, rewards = run(state, jax.random.key(2 + r))
        jax.block_until_ready(rewards)
        best = min(best, time.perf_counter() - t0)
    assert bool(jnp.all(jnp.isfinite(state.obs))), f"{name}: non-finite observations"
    return {"env": name, "variant": variant, "num_envs": batch, "scan_steps": steps,
            "steps_per_s": batch * steps / best, "compile_plus_first_run_s": compile_s}


def device_name() -> str:
    d = jax.devices()[0]
    if d.platform == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {jax.local_device_count()} "\
               f"device, {__import__('os').cpu_count()} cores)"
    return f"{d.platform} ({d.device_kind})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--envs", default=",".join(ENV_NAMES))
    p.add_argument("--batch-sizes", default="16,64,256")
    p.add_argument("--steps", type=int, default=50, help="scan length per timed call")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--variant", choices=["normal", "ood"], default="ood")
    p.add_argument("--physics", choices=["mjx", "native"], default="mjx",
                   help="the engine (default mjx, that of the results from before the choice)")
    p.add_argument("--tag", default="cpu", help="results file suffix, e.g. cpu, h100")
    args = p.parse_args()

    rows = []
    for name in args.envs.split(","):
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            row = measure(name, args.variant, batch, args.steps, args.repeats, args.physics)
            rows.append(row)
            print(f"{name:<12} num_envs={batch:<6} {row['steps_per_s']:>10,.0f} env steps/s "
                  f"(compile {row['compile_plus_first_run_s']:.1f} s)", file=sys.stderr,
                  flush=True)

    record = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "device": device_name(),
              "jax": jax.__version__, "physics": args.physics, "command": " ".join(sys.argv),
              "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"env_throughput_{args.tag}.json").write_text(json.dumps(record, indent=2) + "\n")
    batches = sorted({r["num_envs"] for r in rows})
    lines = [f"Env steps/s ({args.variant} variant, random actions, auto-reset, scan of "
             f"{args.steps} steps, best of {args.repeats}) on {record['device']}, "
             f"{args.physics} physics, jax "
             f"{jax.__version__}, {record['date']}.", "",
             "| env | " + " | ".join(f"{b} envs" for b in batches) + " | compile (s) |",
             "|---|" + "---|" * (len(batches) + 1)]
    for name in dict.fromkeys(r["env"] for r in rows):
        by_batch = {r["num_envs"]: r for r in rows if r["env"] == name}
        cells = [f"{by_batch[b]['steps_per_s']:,.0f}" if b in by_batch else "" for b in batches]
        compile_s = max(r["compile_plus_first_run_s"] for r in by_batch.values())
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {compile_s:.0f} |")
    table = "\n".join(lines) + "\n"
    (RESULTS / f"env_throughput_{args.tag}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
