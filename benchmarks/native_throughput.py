"""Throughput of the two physics engines, side by side, on this machine.

Per env and batch size, in env steps per second (best of --rounds):
  raw C        mujoco.batch.Batch stepping n_frames substeps per env step, random controls,
               no JAX at all: the physical limit of the C engine on these cores
  C + policy   jit(scan(vmap(env.step))) on --physics native with the trainer's policy choosing
               every action (the rollout half of a PPO iteration)
  PPO native   whole PPO iterations (rollout + GAE + updates) on --physics native
  PPO MJX      the same iterations on --physics mjx
plus each training program's compile time, and where a native PPO iteration's time goes:
physics (its env steps at the raw C rate), the rest of the rollout (the callback's copies, the
policy, the env's own JAX: C + policy time less physics) and the learner (GAE and the updates:
PPO time less the rollout's). The PPO loop is the recovery loop's shape (20-step
rollouts, 4 epochs of 8 minibatches) so that batch sizes compare.

    .venv/bin/python benchmarks/native_throughput.py --envs hopper,humanoid --num-envs 256
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np
from mujoco import batch as mjbatch

from lamour_jax.envs import make
from lamour_jax.learner import make_train
from lamour_jax.params import train_config
from lamour_jax.xla_runtime import available_cores

RESULTS = Path(__file__).parent / "results"


def raw_c(name: str, n: int, steps: int, rounds: int) -> float:
    env = make(name, physics="native")
    robot = env.robot
    batch = mjbatch.Batch(robot.native.model, n, nthread=available_cores())
    batch.state[:] = robot.native.initial_row
    ctrl = batch.bind("ctrl")
    rng = np.random.default_rng(0)
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            ctrl[:] = rng.uniform(-1.0, 1.0, ctrl.shape)
            batch.step(nstep=robot.n_frames)
        best = max(best, steps * n / (time.perf_counter() - t0))
    return best


def trainer_for(name: str, n: int, physics: str):
    config = train_config(name).replace(num_envs=n, unroll_length=20, num_minibatches=8,
                                        update_epochs=4, eval_every=n * 20)
    return make_train(make(name, physics=physics), config)


def timed(fn, arg, steps_per_call: int, rounds: int) -> float:
    out = fn(arg)
    jax.block_until_ready(out)
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(arg))
        best = max(best, steps_per_call / (time.perf_counter() - t0))
    return best


def ppo(name: str, n: int, physics: str, rounds: int) -> tuple[float, float, float]:
    """(PPO env steps/s, rollout-alone env steps/s, compile seconds)."""
    trainer = trainer_for(name, n, physics)
    state = jax.jit(trainer.init)(jax.random.key(0))
    iterations = 4
    t0 = time.perf_counter()
    train = jax.jit(lambda s: jax.lax.scan(lambda c, _: (trainer.iterate(c)[0], None), s, None,
                                           length=iterations)[0]).lower(state).compile()
    compile_s = time.perf_counter() - t0
    steps = iterations * n * trainer.config.unroll_length
    training = timed(train, state, steps, rounds)
    rollout = jax.jit(lambda s: trainer._rollout(s, s.key))
    acting = timed(rollout, state, n * trainer.config.unroll_length, rounds)
    return training, acting, compile_s


def _shares(row: dict) -> str:
    """A native PPO iteration's time split three ways, in per cent (from the rates measured:
    an overhead measured below zero, within this VM's noise, shows as 0)."""
    whole, rollout, physics = (1 / row["ppo_native"], 1 / row["c_policy"], 1 / row["raw_c"])
    parts = [min(physics, whole), max(rollout - physics, 0.0), max(whole - rollout, 0.0)]
    return " / ".join(f"{100 * p / sum(parts):.0f} %" for p in parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", default="hopper,ant,humanoid")
    parser.add_argument("--num-envs", default="64,256,1024")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-mjx", action="store_true", help="native rows only")
    parser.add_argument("--tag", default="cpu")
    args = parser.parse_args()
    rows = []
    for name in args.envs.split(","):
        for n in (int(v) for v in args.num_envs.split(",")):
            row = {"env": name, "num_envs": n, "raw_c": raw_c(name, n, 50, args.rounds)}
            row["ppo_native"], row["c_policy"], row["compile_native_s"] = ppo(
                name, n, "native", args.rounds)
            if not args.skip_mjx:
                row["ppo_mjx"], row["mjx_policy"], row["compile_mjx_s"] = ppo(
                    name, n, "mjx", args.rounds)
            rows.append(row)
            print(json.dumps({k: round(v, 1) if isinstance(v, float) else v
                              for k, v in row.items()}), file=sys.stderr, flush=True)
    lines = [f"Physics engines on {available_cores()} CPU core(s), jax {jax.__version__}, "
             f"{jax.default_backend()} backend; env steps per second, best of {args.rounds}.",
             "", "| env | envs | raw C | C + policy | PPO native | PPO MJX | native / raw C | "
             "native / MJX | compile native / MJX (s) | native iteration: physics / rest of "
             "rollout / learner |", "|---|---:|" + "---:|" * 8]
    for r in rows:
        mjx = r.get("ppo_mjx")
        vs_mjx = "-" if mjx is None else f"{r['ppo_native'] / mjx:.1f}x"
        mjx_cells = ("-", "-") if mjx is None else (f"{mjx:,.0f}", f"{r['compile_mjx_s']:.1f}")
        lines.append(
            f"| {r['env']} | {r['num_envs']} | {r['raw_c']:,.0f} | {r['c_policy']:,.0f} | "
            f"{r['ppo_native']:,.0f} | {mjx_cells[0]} | {r['ppo_native'] / r['raw_c']:.2f}x | "
            f"{vs_mjx} | {r['compile_native_s']:.1f} / {mjx_cells[1]} | {_shares(r)} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"native_throughput_{args.tag}.md").write_text(table + "\n")
    (RESULTS / f"native_throughput_{args.tag}.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
