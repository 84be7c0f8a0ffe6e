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
  comparison, at any step without that.

    .venv/bin/python benchmarks/pushchair_after_up.py RUN_DIR [--episodes 32] [--tag cpu-x]

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
from lamour_jax.runtime.run_dir import RunDir

RESULTS = Path(__file__).parent / "results"
STILL_SPEED, STILL_SPIN = 0.1, 0.2  # ManiSkill2's "chair static"


def follow(env, act, key, episodes):
    """Per step and episode: the program state [T, N, 5], validity and whether it still runs."""
    start = jax.vmap(env.reset)(jax.random.split(key, episodes))

    def step(state, _):
        nxt = jax.vmap(env.step)(state, act(state.obs))
        return nxt, (env.program_state(state.obs), state.info["valid"], nxt.done)

    _, (prog, valid, done) = jax.lax.scan(step, start, None, length=env.episode_length)
    prog, valid, done = (np.asarray(x) for x in (prog, valid, done))
    running = ~(np.cumsum(done, 0) - done > 0)
    return prog, valid.astype(bool) & running, running


def after_up(prog, valid, running) -> dict:
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
    }


COLUMNS = [("got_up", "got up", "{:.0%}"), ("first_valid_step", "first valid step", "{:.0f}"),
           ("speed_at_up", "chair speed then (m/s)", "{:.2f}"),
           ("hands_at_up", "hands to chair then (m)", "{:.2f}"),
           ("top_speed_after", "top speed after (m/s)", "{:.2f}"),
           ("closest_after", "closest to target after (m)", "{:.2f}"),
           ("distance_at_end", "to target at the end (m)", "{:.2f}"),
           ("success_at_end", "success at the end", "{:.0%}"),
           ("success_once_still", "success once, standing still (ManiSkill2)", "{:.0%}"),
           ("success_once", "once, moving allowed", "{:.0%}")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--tag", default="cpu")
    args = parser.parse_args()
    record = RunDir(args.run).read("recovery")
    if record.env != "pushchair":
        parser.error(f"{args.run} is a {record.env} run; this script follows PushChair's chair")
    physics = record.get("physics", UNRECORDED_PHYSICS)
    env = make("pushchair", "ood", "paper", episode_length=record.ppo.episode_length,
               physics=physics)
    policy = load(args.run / "best")
    original = load(Path(record["policy"])).act_fn(record.get("policy_member", 0))
    key = jax.random.key(args.seed)
    normal = make("pushchair", "normal", episode_length=record.ppo.episode_length,
                  physics=physics)
    rows = [{"policy": "original, Normal starts (for scale)",
             **after_up(*follow(normal, original, key, args.episodes))},
            {"policy": "original", **after_up(*follow(env, original, key, args.episodes))}]
    for m in range(policy.members):
        rows.append({"policy": f"seed {m}",
                     **after_up(*follow(env, policy.act_fn(m), key, args.episodes))})
        print(f"seed {m}: got up {rows[-1]['got_up']:.0%}", flush=True)

    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"pushchair_after_up_{args.tag}"
    stem.with_suffix(".json").write_text(json.dumps({
        "run": str(args.run), "physics": physics, "episodes": args.episodes, "rows": rows,
        "machine": f"{platform.machine()}, {jax.devices()[0].device_kind}"}, indent=2))
    lines = [f"# PushChair after the righting ({args.tag})", "",
             f"Run `{args.run}` ({physics} physics): its `best` policies and the original, "
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
              f"{args.run} --episodes {args.episodes} --tag {args.tag}`", ""]
    stem.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
