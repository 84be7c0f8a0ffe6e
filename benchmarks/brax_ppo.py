"""Brax's PPO next to ours: same PPO settings, same machine, same env, same JAX.

Brax's trainer does not run on the project's JAX (`jax.device_put_replicated` is gone), so this
script runs in its own environment, `.venv-brax` (see benchmarks/brax-requirements.txt;
`make bench-brax` builds it and installs this project into it without its pins). The settings
are matched, on one of two loops (`--loop`): `rollout` (256 envs x unroll 20 per iteration,
8 minibatches, 4 epochs: the hopper's recovery loop) or `reuse` (the sample-reuse loop
the four Gym originals train with: 64 envs x unroll 64, 32 minibatches, 10 epochs, where the
learner's share of an iteration is largest); policy MLP 64-64 and value MLP 256-256 with swish,
raw observations, episode length 1000.

Training steps/s, four ways (each of ours in a fresh process, benchmarks/train_throughput.py):
- brax PPO on brax's hopper (`.venv-brax`: brax's JAX and MJX);
- lamour-jax PPO on brax's hopper in the same `.venv-brax`: the same env object (through
  benchmarks/brax_env.py), JAX and MJX: the learner-against-learner figure;
- lamour-jax PPO on brax's hopper and on our hopper in the project's `.venv` (its pins): what a
  user of this project gets. Our hopper lets every body geom touch the floor (recovery needs a
  fallen robot to lie on it); brax's lets only the foot.

    .venv-brax/bin/python benchmarks/brax_ppo.py [--loop rollout|reuse] [--num-envs N] [--tag cpu]

Writes benchmarks/results/brax_ppo_<tag>.{json,md} (tag default: cpu, or cpu-reuse).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import mujoco
from train_throughput import ITERATIONS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
# Per loop: envs, unroll length, minibatches, epochs, entropy bonus (ours: PPOConfig overrides
# over the hopper's defaults; brax's: the same numbers).
LOOPS = {"rollout": dict(num_envs=256, unroll=20, minibatches=8, epochs=4, entropy=1e-3),
         "reuse": dict(num_envs=64, unroll=64, minibatches=32, epochs=10, entropy=0.0)}


def our_overrides(loop: dict) -> list[str]:
    # The pre-tanh entropy bonus, as the recorded results were measured (the hopper's
    # original has trained with the squashed action's entropy since session 22).
    return [f"unroll_length={loop['unroll']}", f"num_minibatches={loop['minibatches']}",
            f"update_epochs={loop['epochs']}", f"entropy_coef={loop['entropy']}",
            "entropy_space=pre_tanh"]


def brax_training(loop: dict, num_envs: int, epochs: int, iterations_per_epoch: int) -> dict:
    from brax import envs
    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo

    steps_per_iteration = num_envs * loop["unroll"]
    records: list[dict] = []
    tick = time.perf_counter()
    ppo.train(
        environment=envs.get_environment("hopper", backend="mjx"),
        num_timesteps=epochs * iterations_per_epoch * steps_per_iteration,
        num_evals=epochs + 1, num_eval_envs=16, episode_length=1000, num_envs=num_envs,
        # batch_size x num_minibatches unrolls per iteration: one per env, as ours.
        batch_size=num_envs // loop["minibatches"], num_minibatches=loop["minibatches"],
        unroll_length=loop["unroll"], num_updates_per_batch=loop["epochs"], learning_rate=3e-4,
        entropy_cost=loop["entropy"], discounting=0.99, gae_lambda=0.95, clipping_epsilon=0.2,
        reward_scaling=0.1, max_grad_norm=0.5, normalize_observations=False,
        network_factory=functools.partial(ppo_networks.make_ppo_networks,
                                          policy_hidden_layer_sizes=(64, 64),
                                          value_hidden_layer_sizes=(256, 256)),
        progress_fn=lambda step, m: records.append(
            {"step": step, "wall_s": time.perf_counter() - tick,
             "sps": float(m.get("training/sps", 0.0))}),
        seed=0)
    epochs_sps = [r["sps"] for r in records if r["sps"] > 0]
    # The first epoch includes compiling the training program; the others are steady state.
    # Their median, as ours is the median of as many timed calls of as many iterations: a best
    # of N favours whichever side takes more, shorter samples.
    return {"train_sps": statistics.median_high(epochs_sps[1:] or epochs_sps),
            "epochs_sps": epochs_sps,
            "first_eval_s": records[0]["wall_s"] if records else None}


def brax_env_sps(num_envs: int, steps: int, repeats: int = 3) -> float:
    from brax import envs

    env = envs.training.wrap(envs.get_environment("hopper", backend="mjx"), episode_length=1000)
    state = jax.jit(env.reset)(jax.random.split(jax.random.PRNGKey(0), num_envs))

    @jax.jit
    def roll(state):
        def step(s, key):
            action = jax.random.uniform(key, (num_envs, env.action_size), minval=-1, maxval=1)
            return env.step(s, action), None
        return jax.lax.scan(step, state, jax.random.split(jax.random.PRNGKey(1), steps))[0].obs

    jax.block_until_ready(roll(state))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(roll(state))
        times.append(time.perf_counter() - t)
    return num_envs * steps / min(times)


def ours(python: Path, env_name: str, loop: dict, num_envs: int, repeats: int,
         physics: str = "mjx") -> dict:
    """Our trainer's throughput, measured in a fresh process of `python`."""
    out = subprocess.run([str(python), str(ROOT / "benchmarks" / "train_throughput.py"),
                          "--one", env_name, str(num_envs), "--repeats", str(repeats),
                          "--physics", physics,
                          *(f"--set={item}" for item in our_overrides(loop))],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"{python} train_throughput.py --one {env_name} failed:\n"
                         f"{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loop", choices=sorted(LOOPS), default="rollout")
    parser.add_argument("--num-envs", type=int, help="default: the loop's")
    parser.add_argument("--epochs", type=int, default=8,
                        help="brax training epochs; the first (with its compile) is not timed")
    parser.add_argument("--iterations", type=int, default=ITERATIONS,
                        help="iterations per brax epoch (ours times calls of "
                             f"{ITERATIONS}: keep them equal)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="brax / ours (same env, same stack) pairs, run alternately; "
                             "the headline is the median ratio")
    parser.add_argument("--tag", help="default: cpu, or cpu-<loop> for a loop other than "
                        "rollout")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first, with its compile, is not timed")
    loop = LOOPS[args.loop]
    n = args.num_envs or loop["num_envs"]
    if n % loop["minibatches"]:
        parser.error(f"--num-envs must be a multiple of the loop's {loop['minibatches']} "
                     "minibatches (brax splits whole unrolls)")
    tag = args.tag or ("cpu" if args.loop == "rollout" else f"cpu-{args.loop}")
    stack = f"jax {jax.__version__}, mjx {mujoco.__version__}"
    # This VM's speed drifts 10-30 % over minutes, so one brax run against one of ours says
    # little: pairs run back to back, the ratio taken within each pair.
    rounds = []
    for r in range(args.rounds):
        brax_run = brax_training(loop, n, args.epochs, args.iterations)
        same_run = ours(Path(sys.executable), "brax:hopper", loop, n, args.epochs - 1)
        rounds.append({"brax": brax_run, "ours": same_run,
                       "ratio": same_run["train_sps_median"] / brax_run["train_sps"]})
        print(f"round {r + 1}: brax {brax_run['train_sps']:,.0f}, lamour-jax "
              f"{same_run['train_sps_median']:,.0f} steps/s, ratio {rounds[-1]['ratio']:.2f}",
              flush=True)
    median = sorted(rounds, key=lambda row: row["ratio"])[len(rounds) // 2]
    brax = dict(median["brax"], env_sps=brax_env_sps(n, loop["unroll"] * 4), stack=stack)
    pinned = ROOT / ".venv" / "bin" / "python"
    mine = [dict(median["ours"], label="brax's hopper")]
    for label, env_name, physics in [
            ("brax's hopper", "brax:hopper", "mjx"),
            ("our hopper (all geoms touch the floor)", "hopper", "mjx"),
            ("our hopper, MuJoCo's C engine (--physics native)", "hopper", "native")]:
        row = ours(pinned, env_name, loop, n, args.epochs - 1, physics)
        row["label"] = label
        mine.append(row)
        print(
            f"lamour-jax on {env_name} (jax {row['jax']}): {row['train_sps_median']:,.0f} "
            "steps/s",
            flush=True,
        )
    record = {
        "loop": dict(loop, name=args.loop),
        "num_envs": n,
        "brax": brax,
        "lamour_jax": mine,
        "rounds": [{"brax_sps": row["brax"]["train_sps"],
                    "ours_sps": row["ours"]["train_sps_median"], "ratio": row["ratio"]}
                   for row in rounds],
        "speedup_same_env_same_stack": median["ratio"],
        "speedup_pinned_our_env": mine[2]["train_sps_median"] / brax["train_sps"],
        "speedup_pinned_our_env_native": mine[3]["train_sps_median"] / brax["train_sps"],
        "versions": {
            "brax_side": {
                "jax": jax.__version__,
                "mjx": mujoco.__version__,
                "brax": __import__("brax").__version__,
            }
        },
        "device": str(jax.devices()[0]),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"brax_ppo_{tag}.json").write_text(json.dumps(record, indent=2))
    lines = [
        f"# Brax PPO vs lamour-jax PPO, hopper, {n} envs, {args.loop} loop ({tag})",
        "",
        f"{record['device']}, {record['platform']}, {record['cpu_count']} cores. Same PPO "
        f"settings: {n} envs x unroll {loop['unroll']}, {loop['minibatches']} minibatches x "
        f"{loop['epochs']} epochs, entropy bonus {loop['entropy']:g}, policy 64-64 / "
        f"value 256-256 swish, raw observations. Brax {record['versions']['brax_side']['brax']} "
        f"runs in `.venv-brax` ({stack}); lamour-jax runs there too (same env object, same "
        "JAX) and on the project's pins.",
        "",
        "| trainer | env | stack | training steps/s | acting steps/s | training / acting "
        "| compile |",
        "|---|---|---|---:|---:|---:|---:|",
        f"| brax PPO | brax's hopper | {stack} | {brax['train_sps']:,.0f} | "
        f"{brax['env_sps']:,.0f} (random actions) | {brax['train_sps'] / brax['env_sps']:.2f} "
        f"| {brax['first_eval_s']:.0f} s (first epoch) |",
    ]
    lines += [
        f"| lamour-jax PPO | {r['label']} | jax {r['jax']}, "
        f"{'MuJoCo C' if r.get('physics') == 'native' else 'mjx'} {r['mujoco']} | "
        f"{r['train_sps_median']:,.0f} | {r['act_sps']:,.0f} (policy forward) | "
        f"{r['ratio']:.2f} | {r['compile_s']:.0f} s |"
        for r in mine
    ]
    ratios = [row["ratio"] for row in record["rounds"]]
    lines += [
        "",
        f"Same env, same JAX and MJX: lamour-jax / brax training steps/s = "
        f"**{record['speedup_same_env_same_stack']:.2f}x**, the median of {len(ratios)} "
        f"back-to-back pairs ({', '.join(f'{x:.2f}' for x in ratios)}; the first two rows are "
        f"the median pair). On the project's pins with its own "
        f"hopper: **{record['speedup_pinned_our_env']:.2f}x** on MJX, "
        f"**{record['speedup_pinned_our_env_native']:.2f}x** on MuJoCo's C engine.",
        "",
        "| round | brax PPO steps/s | lamour-jax PPO steps/s | ratio |",
        "|---:|---:|---:|---:|",
        *(f"| {i + 1} | {row['brax_sps']:,.0f} | {row['ours_sps']:,.0f} | {row['ratio']:.2f} |"
          for i, row in enumerate(record["rounds"])),
        "",
        f"Training steps/s are medians of equal samples. Brax's: its own `training/sps` over "
        f"its steady-state epochs of {args.iterations} iterations (in the median pair: "
        f"{', '.join(f'{s:,.0f}' for s in brax['epochs_sps'])}, the first with its compile). "
        f"Ours: `Trainer.iterate` (rollout + GAE + updates, no evaluation), "
        f"{median['ours']['repeats']} timed calls of {ITERATIONS} iterations. Acting steps/s "
        "are the best of those calls; ours' training / acting is the median over rounds that "
        "time both back to back (`benchmarks/train_throughput.py`). Brax's compile "
        "is its whole first epoch (compile plus one epoch of training); ours is the training "
        "program alone.",
        "",
        f"Reproduce: `make bench-brax` (or `.venv-brax/bin/python benchmarks/brax_ppo.py "
        f"--loop {args.loop} --num-envs {n} --tag {tag}`).",
    ]
    (RESULTS / f"brax_ppo_{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
