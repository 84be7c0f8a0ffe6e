"""Where does the chair go once it is up? PushChair recoveries after the righting.

A recovered PushChair policy can get the chair onto its casters in most OOD episodes and still
almost never end an episode with it at the target. This script runs each seed of a recovery
run (its `best` policy) from the same OOD starts and follows the chair through the episode,
from the 5-d state the reward programs read (hands-to-chair distance, chair-to-target distance,
tilt, linear and angular speed):

- got up: episodes in which the chair passes the validity test (tilt <= 0.1 pi);
- at the first valid step: the step, the chair's speed, the hands' distance to the chair;
- after it: the chair's top speed, its closest pass to the target and where it ends;
- success at the end (this project's metric: within 0.15 m of the target, tilt < 0.2 pi, at
  the last step), and at any step in ManiSkill2's reading, which also asks the chair to stand
  still (speed < 0.1 m/s, spin < 0.2 rad/s; its episodes end at the first success) and, for
  comparison, at any step without that;
- what the robot does from the first valid step on: the share of those steps where the run's
  `is_recovered` holds (a baseline's run: the offline reference program's), the states
  LaMOuR's consolidation term is applied on: where it never holds, nothing pulls the policy
  back towards the original; the mean forward command of the base and the share of steps each
  palm holds the backrest (the original pushes slowly with one palm holding).

    .venv/bin/python benchmarks/pushchair_after_up.py RUN_DIR [--episodes 32] [--final]
        [--tag cpu-x]

`--final`: the run's final policies (`policy`, what `lamour compare` tables report) rather
than its `best`.

Writes benchmarks/results/pushchair_after_up_<tag>.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
from pathlib import Path

import jax
import numpy as np

from lamour_jax.envs import UNRECORDED_PHYSICS, make
from lamour_jax.envs.pushchair import SUCCESS_DISTANCE, SUCCESS_TILT
from lamour_jax.learner.policy import load
from lamour_jax.rewards import reference_source
from lamour_jax.runtime.run_dir import RunDir
from lamour_jax.transpile import transpile

RESULTS = Path(__file__).parent / "results"
STILL_SPEED, STILL_SPIN = 0.1, 0.2  # ManiSkill2's "chair static"
FORWARD = 0  # the base's forward command, the action's first entry (envs/pushchair.py)


def follow(env, act, is_recovered, key, episodes):
    """Per step and episode [T, N, ...]: the program state, validity, whether the episode still
    runs, whether `is_recovered` holds, the forward command and which palms hold the chair."""
    start = jax.vmap(env.reset)(jax.random.split(key, episodes))
    holding = next(f for f in env.robot.obs_fields() if f.name == "holding")
    tested = jax.vmap(is_recovered)

    def step(state, _):
        action = act(state.obs)
        nxt = jax.vmap(env.step)(state, action)
        prog = env.program_state(state.obs)
        held = state.obs[:, holding.start:holding.start + holding.size]
        return nxt, (prog, state.info["valid"], nxt.done, tested(prog), action[:, FORWARD], held)

    _, traced = jax.lax.scan(step, start, None, length=env.episode_length)
    prog, valid, done, recovered, forward, held = (np.asarray(x) for x in traced)
    running = ~(np.cumsum(done, 0) - done > 0)
    return prog, valid.astype(bool) & running, running, recovered > 0, forward, held


def after_up(prog, valid, running, recovered, forward, held) -> dict:
    """The chair after its first valid step, over the episodes that reach one."""
    d_ee, d_target, tilt, speed, spin = np.moveaxis(prog, -1, 0)
    steps = np.arange(prog.shape[0])[:, None]
    up = valid.any(0)
    first = valid.argmax(0)
    after = running & (steps >= first) & up
    last = running.sum(0) - 1
    cols = np.arange(prog.shape[1])
    at_target = running & (d_target < SUCCESS_DISTANCE) & (tilt < SUCCESS_TILT)
    still = (speed < STILL_SPEED) & (spin < STILL_SPIN)

    def over_up(values):
        return float(np.mean(values[up])) if up.any() else float("nan")

    def over_after(values):
        return float(np.mean(values[after])) if after.any() else float("nan")

    return {
        "got_up": float(up.mean()),
        "first_valid_step": over_up(first),
        "speed_at_up": over_up(speed[first, cols]),
        "hands_at_up": over_up(d_ee[first, cols]),
        "top_speed_after": over_up(np.where(after, speed, 0).max(0)),
        "closest_after": over_up(np.where(after, d_target, np.inf).min(0)),
        "distance_at_end": over_up(d_target[last, cols]),
        "success_at_end": float(np.mean(at_target[last, cols])),
        "success_once_still": float(np.mean((at_target & still).any(0))),
        "success_once": float(np.mean(at_target.any(0))),
        "recovered_after": over_after(recovered),
        "forward_after": over_after(forward),
        "left_held_after": over_after(held[..., 0]),
        "right_held_after": over_after(held[..., 1]),
    }


COLUMNS = [("got_up", "got up", "{:.0%}"), ("first_valid_step", "first valid step", "{:.0f}"),
           ("speed_at_up", "chair speed then (m/s)", "{:.2f}"),
           ("hands_at_up", "hands to chair then (m)", "{:.2f}"),
           ("top_speed_after", "top speed after (m/s)", "{:.2f}"),
           ("closest_after", "closest to target after (m)", "{:.2f}"),
           ("distance_at_end", "to target at the end (m)", "{:.2f}"),
           ("success_at_end", "success at the end", "{:.0%}"),
           ("success_once_still", "success once, standing still (ManiSkill2)", "{:.0%}"),
           ("success_once", "once, moving allowed", "{:.0%}"),
           ("recovered_after", "is_recovered holds after", "{:.0%}"),
           ("forward_after", "forward command after", "{:+.2f}"),
           ("left_held_after", "left palm holding after", "{:.0%}"),
           ("right_held_after", "right palm holding after", "{:.0%}")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--final", action="store_true",
                        help="the run's final policies rather than its best")
    parser.add_argument("--tag", default="cpu")
    args = parser.parse_args()
    record = RunDir(args.run).read("recovery")
    if record.env != "pushchair":
        parser.error(f"{args.run} is a {record.env} run; this script follows PushChair's chair")
    physics = record.get("physics", UNRECORDED_PHYSICS)
    env = make("pushchair", "ood", "paper", episode_length=record.ppo.episode_length,
               physics=physics)
    policy = load(args.run if args.final else args.run / "best")
    # The run's first reward program: whose is_recovered gates consolidation. A baseline's run
    # (zero, env, sero) has none: the offline reference's, the program LaMOuR's arm used.
    programs = sorted((args.run / "rewards").glob("*.py"))
    source = programs[0].read_text() if programs else reference_source("pushchair")
    is_recovered = transpile(source, env.program_state_size, env.action_size).is_recovered
    original = load(Path(record["policy"])).act_fn(record.get("policy_member", 0))
    key = jax.random.key(args.seed)
    normal = make("pushchair", "normal", episode_length=record.ppo.episode_length,
                  physics=physics)
    rows = [{"policy": "original, Normal starts (for scale)",
             **after_up(*follow(normal, original, is_recovered, key, args.episodes))},
            {"policy": "original",
             **after_up(*follow(env, original, is_recovered, key, args.episodes))}]
    for m in range(policy.members):
        rows.append({"policy": f"seed {m}",
                     **after_up(*follow(env, policy.act_fn(m), is_recovered, key,
                                        args.episodes))})
        print(f"seed {m}: got up {rows[-1]['got_up']:.0%}", flush=True)

    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"pushchair_after_up_{args.tag}"
    stem.with_suffix(".json").write_text(json.dumps({
        "run": str(args.run), "physics": physics, "episodes": args.episodes, "rows": rows,
        "machine": f"{platform.machine()}, {jax.devices()[0].device_kind}"}, indent=2))
    lines = [f"# PushChair after the righting ({args.tag})", "",
             f"Run `{args.run}` ({physics} physics): its `{'policy' if args.final else 'best'}` "
             "policies and the original, "
             f"{args.episodes} paper-mode OOD episodes each, the same starts (and the original "
             "from Normal starts, where the chair stands from the first step); the columns "
             "from 'first valid step' to 'to target at the end' are means over the episodes "
             "that got up.", "",
             "| policy | " + " | ".join(label for _, label, _ in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for row in rows:
        lines.append(f"| {row['policy']} | "
                     + " | ".join(fmt.format(row[k]) if not math.isnan(row[k]) else "-"
                                  for k, _, fmt in COLUMNS) + " |")
    lines += ["", "Reproduce: `.venv/bin/python benchmarks/pushchair_after_up.py "
              f"{args.run} --episodes {args.episodes}{' --final' if args.final else ''} "
              f"--tag {args.tag}`", ""]
    stem.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
