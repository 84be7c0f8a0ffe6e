"""PPO training throughput next to what the physics alone costs.

For each env and num_envs, in a fresh process (so peak memory and compile time are its own):
- training: `Trainer.iterate` (rollout + GAE + update epochs, no evaluation), env steps/s;
- acting: the same number of steps of the batched env (auto-reset) driven by the policy's
  forward pass and a Gaussian sample, nothing stored, nothing learnt: the floor any PPO
  implementation pays;
- ratio = training / acting steps/s (goal >= 0.85: the learner costs little next to
  physics), the median over paired rounds that time both back to back;
- where an iteration's time goes: its rollout and its learner half (normaliser, GAE, update
  epochs on a fixed rollout) compiled and timed apart, in the same rounds;
- compile time of the whole training program (`run_chunk`: iterations + evaluation) and the
  process's peak resident memory.

    python benchmarks/train_throughput.py [--envs hopper,ant] [--num-envs 64,256,1024]
                                          [--physics mjx|native]

`--physics` defaults to mjx, the engine of every result here from before the choice existed
(benchmarks/native_throughput.py sets the two engines side by side).

An env named `brax:NAME` is brax's own MJX env (benchmarks/brax_env.py) under our trainer,
with the PPO settings of our NAME: the same-env half of benchmarks/brax_ppo.py.

Writes benchmarks/results/train_throughput_<tag>.{json,md}. Steps/s: best of --repeats rounds.

On the CPU each measurement runs under the trainer's stall watchdog: a program that deadlocks
in XLA's CPU runtime (the ant at 1024 envs did, until lamour_jax/xla_runtime.py) is skipped
after LAMOUR_STALL_TIMEOUT seconds without CPU use (default 300) instead of holding the whole
table for --timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lamour_jax.runtime.stall import STALL_EXIT, timeout_from_env

RESULTS = Path(__file__).parent / "results"
ITERATIONS = 4  # training iterations per timed call (each: num_envs x unroll_length steps)
REPEATS = 7  # paired timing rounds per configuration, by default


def measure(env_name: str, num_envs: int, repeats: int, overrides: list[str],
            physics: str) -> dict:
    import jax
    import jax.numpy as jnp
    from brax_env import PREFIX, BraxEnv

    from lamour_jax.envs import make
    from lamour_jax.learner import make_train
    from lamour_jax.params import train_config

    brax_name = env_name.removeprefix(PREFIX) if env_name.startswith(PREFIX) else None
    base = train_config(brax_name or env_name)
    config = base.replace(num_envs=num_envs).override(overrides)
    # One timed call of the training program = ITERATIONS iterations of the loop as overridden.
    config = config.replace(eval_every=config.num_envs * config.unroll_length * ITERATIONS)
    if brax_name:  # brax's own env object, our trainer (see brax_env.py)
        if physics != "mjx":
            raise SystemExit(f"{env_name} is brax's MJX env: --physics mjx only")
        env = BraxEnv(brax_name, episode_length=config.episode_length)
    else:
        env = make(env_name, "normal", episode_length=config.episode_length, physics=physics)
    trainer = make_train(env, config)
    state = jax.jit(trainer.init)(jax.random.key(0))
    steps = config.steps_per_eval

    tick = time.perf_counter()
    chunk = jax.jit(trainer.run_chunk).lower(state).compile()
    compile_chunk = time.perf_counter() - tick
    del chunk

    iterate = jax.jit(trainer.iterate).lower(state).compile()

    def act_only(state):
        def rollout(env_state, key):  # restarts drawn as the trainer's rollout draws them
            starts_key, steps_key = jax.random.split(key)
            starts = trainer.rollout_starts(starts_key)

            def step(env_state, key):
                mean, std = trainer.policy.distribution(state.params["actor"], state.obs_stats,
                                                        env_state.obs)
                action = jnp.tanh(mean + std * jax.random.normal(key, mean.shape))
                return trainer.batch_env.step(env_state, action, starts), None

            keys = jax.random.split(steps_key, config.unroll_length)
            return jax.lax.scan(step, env_state, keys)[0], None

        rollouts = jax.random.split(state.key, steps // config.steps_per_iteration)
        env_state, _ = jax.lax.scan(rollout, state.env_state, rollouts)
        return env_state.obs

    acting = jax.jit(act_only).lower(state).compile()

    # Where a training iteration's time goes: its two halves compiled apart, each scanned over
    # as many iterations as a training call. The learner half updates on one fixed rollout.
    iterations = steps // config.steps_per_iteration

    def rollouts_only(state):
        def one(state, key):
            env_state, episode_return, traj, _ = trainer._rollout(state, key)
            return state.replace(env_state=env_state, episode_return=episode_return), None
        return jax.lax.scan(one, state, jax.random.split(state.key, iterations))[0].env_state.obs

    fixed_traj = jax.jit(trainer._rollout)(state, jax.random.key(1))[2]

    def learner_only(state):
        def one(state, key):
            k_update, k_sero = jax.random.split(key)
            return trainer._learn(state, fixed_traj, k_update, k_sero, config)[0], None
        return jax.lax.scan(one, state, jax.random.split(state.key, iterations))[0].params

    rollout = jax.jit(rollouts_only).lower(state).compile()
    learner = jax.jit(learner_only).lower(state).compile()

    # Paired rounds, not one block of each: this VM's speed drifts by 10-20 % over minutes,
    # so timing all training calls and then all acting calls measured the drift as much as
    # the learner. Each round times both back to back (order alternating); the ratio is the
    # median of the rounds' ratios, the steps/s the best of each.
    programs = {"train": iterate, "act": acting, "rollout": rollout, "learner": learner}
    for fn in programs.values():
        jax.block_until_ready(fn(state))  # warm-up (and first-touch allocation)

    def timed(fn) -> float:
        tick = time.perf_counter()
        jax.block_until_ready(fn(state))
        return time.perf_counter() - tick

    times = {name: [] for name in programs}
    for round_ in range(repeats):
        for name in (list(programs) if round_ % 2 == 0 else list(programs)[::-1]):
            times[name].append(timed(programs[name]))
    train_times, act_times = times["train"], times["act"]
    ratios = [a / t for a, t in zip(act_times, train_times, strict=True)]
    train_s, act_s = min(train_times), min(act_times)

    def ms_per_iteration(name: str) -> float:
        return 1000 * statistics.median(times[name]) / iterations
    return {"env": env_name, "num_envs": num_envs, "physics": physics, "steps_per_call": steps,
            "train_sps": steps / train_s, "act_sps": steps / act_s,
            "train_sps_median": steps / statistics.median_high(train_times),
            "ratio": statistics.median_high(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "ms_per_iteration": {name: ms_per_iteration(name) for name in programs},
            "compile_s": compile_chunk, "repeats": repeats,
            "loop": f"unroll {config.unroll_length}, {config.num_minibatches} minibatches x "
                    f"{config.update_epochs} epochs",
            "auto_reset": config.auto_reset, "overrides": overrides,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "device": str(jax.devices()[0]), "device_count": jax.device_count(),
            "jax": jax.__version__, "mujoco": __import__("mujoco").__version__}


def measure_watched(env_name: str, num_envs: int, repeats: int, overrides: list[str],
                    physics: str) -> dict:
    """`measure` under the trainer's stall watchdog on the CPU: a deadlocked program exits with
    the trainer's stall status, which the parent reports as such."""
    import jax

    from lamour_jax.runtime.stall import StallWatchdog

    def stalled(seconds: float) -> None:  # on the watchdog's thread: the main one is stuck
        print(f"{env_name} x {num_envs}: no CPU use for {seconds:.0f} s, stalled",
              file=sys.stderr, flush=True)
        os._exit(STALL_EXIT)

    on_cpu = jax.default_backend() == "cpu"
    with StallWatchdog(timeout_from_env() if on_cpu else 0.0, stalled) as watchdog, \
            watchdog.watch():
        return measure(env_name, num_envs, repeats, overrides, physics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", default="hopper,ant")
    parser.add_argument("--num-envs", default="64,256,1024")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="paired rounds (training call, acting call) per configuration")
    parser.add_argument("--tag", default="cpu")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds per configuration before it is skipped (a backstop: "
                             "on the CPU a deadlock is caught sooner by the stall watchdog)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="PPO config override, as in `lamour train --set`")
    parser.add_argument("--physics", choices=("mjx", "native"), default="mjx",
                        help="the engine that steps the envs (default mjx)")
    parser.add_argument("--one", nargs=2, metavar=("ENV", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # child process: one measurement, JSON on the last line
        print(json.dumps(measure_watched(args.one[0], int(args.one[1]), args.repeats,
                                         args.set, args.physics)))
        return

    rows, skipped = [], []
    for env_name in args.envs.split(","):
        for n in (int(v) for v in args.num_envs.split(",")):
            try:  # a backstop: the child's stall watchdog ends a deadlocked program sooner
                out = subprocess.run([sys.executable, __file__, "--one", env_name, str(n),
                                      "--repeats", str(args.repeats),
                                      "--physics", args.physics,
                                      *(f"--set={item}" for item in args.set)],
                                     capture_output=True,
                                     text=True, env=os.environ, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                skipped.append(f"{env_name} x {n}: no result in {args.timeout:.0f} s")
                print(f"{skipped[-1]}, skipped", file=sys.stderr)
                continue
            if out.returncode == STALL_EXIT:
                skipped.append(f"{env_name} x {n}: stalled, no CPU use for "
                               f"{timeout_from_env():g} s (ended by the stall watchdog)")
                print(f"{skipped[-1]}, skipped", file=sys.stderr)
                continue
            if out.returncode:
                skipped.append(f"{env_name} x {n}: failed (exit {out.returncode})")
                print(f"{skipped[-1]}\n{out.stderr[-2000:]}", file=sys.stderr)
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{env_name:12s} {n:6d} envs: train {row['train_sps']:9,.0f} steps/s, "
                  f"act {row['act_sps']:9,.0f} steps/s, ratio {row['ratio']:.2f}, compile "
                  f"{row['compile_s']:.0f} s, peak {row['peak_rss_mib']:,.0f} MiB", flush=True)
    if not rows:
        sys.exit("no measurement succeeded")
    RESULTS.mkdir(exist_ok=True)
    meta = {"device": rows[0]["device"], "device_count": rows[0]["device_count"],
            "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "iterations_per_call": ITERATIONS, "repeats": args.repeats,
            "overrides": args.set, "auto_reset": rows[0]["auto_reset"], "physics": args.physics}
    (RESULTS / f"train_throughput_{args.tag}.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=2))
    loops = {r["env"]: r["loop"] for r in rows}  # per env: its defaults' loop shape
    lines = [f"# PPO training throughput ({args.tag})", "",
             f"Device: {meta['device']} x {meta['device_count']}; {meta['platform']}, "
             f"{meta['cpu_count']} CPU cores; {args.physics} physics. Default PPO config per env ("
             + "; ".join(f"{env}: {loop}" for env, loop in loops.items())
             + f"; auto_reset {meta['auto_reset']}"
             + "".join(f", {item}" for item in args.set)
             + f"); {ITERATIONS} iterations per timed call. Steps/s: best of {args.repeats} "
             "rounds; ratio: median (range) over the rounds of acting time / training time, each "
             "round timing both back to back. Time per iteration: medians of the whole "
             "iteration, its rollout alone and its learner alone (normaliser, GAE and the update "
             "epochs on one fixed rollout), timed in the same rounds.", "",
             "| env | envs | training steps/s | acting steps/s (env + policy forward) | "
             "ratio | ms per iteration: whole / rollout / learner | compile (training program) "
             "| peak memory |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['env']} | {r['num_envs']} | {r['train_sps']:,.0f} | {r['act_sps']:,.0f} | "
              f"{r['ratio']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) | "
              + " / ".join(f"{r['ms_per_iteration'][name]:,.0f}"
                           for name in ("train", "rollout", "learner"))
              + f" | {r['compile_s']:.0f} s | {r['peak_rss_mib']:,.0f} MiB |"
              for r in rows]
    if skipped:
        lines += ["", "Not measured: " + "; ".join(skipped) + "."]
    repeats = f" --repeats {args.repeats}" if args.repeats != REPEATS else ""
    lines += ["", f"Reproduce: `.venv/bin/python benchmarks/train_throughput.py --envs "
              f"{args.envs} --num-envs {args.num_envs}{repeats} --physics {args.physics}"
              + "".join(f" --set {item}" for item in args.set) + f" --tag {args.tag}`."]
    (RESULTS / f"train_throughput_{args.tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
