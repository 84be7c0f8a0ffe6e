"""What a PushChair policy does once the chair is upright, and whether consolidation can see it.

Runs policies of a run (`lamour train`, `lamour recover`/`compare`, or a shipped original) from
the same starts, deterministic, recording every step. From the step each episode first passes
the validity test (tilt <= 0.1 pi; step 0 for Normal starts) to its end, per policy:

- how long the episode goes on and how many of those that reached it end early (the chair
  tipped again) or in success;
- the share of those steps where the run's `is_recovered` holds: the states LaMOuR's
  consolidation term is applied on (none: the policy is never pulled towards the original);
- the mean commands of the base (forward) and of the left and right grips, and the share of
  steps each palm holds the backrest: the original pushes slowly with one palm holding.

    .venv/bin/python benchmarks/pushchair_after_righting.py RUN_DIR [--members 0,3]
        [--variant ood|normal] [--episodes 16] [--program rewards/reference/pushchair.py]
        [--tag cpu-x]

`--program`: the reward program whose is_recovered to apply (default: the one in the run's
`rewards/`, else the offline reference). Writes
benchmarks/results/pushchair_after_righting_<tag>.md when --tag is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lamour_jax.envs import make
from lamour_jax.learner.evaluate import episodes_of_members
from lamour_jax.learner.policy import load
from lamour_jax.rewards import reference_source
from lamour_jax.transpile import transpile

RESULTS = Path(__file__).parent / "results"
# Action layout (envs/pushchair.py): base forward, sideways, turn; lift; 8 arm rates; 2 grips.
FORWARD, LEFT_GRIP, RIGHT_GRIP = 0, 12, 13


def program_source(run: Path, program: Path | None) -> tuple[str, str]:
    if program is not None:
        return program.read_text(), str(program)
    found = sorted((run / "rewards").glob("*.py")) if (run / "rewards").is_dir() else []
    if found:
        return found[0].read_text(), str(found[0])
    return reference_source("pushchair"), "the offline reference"


def after_righting(run: Path, members: list[int], variant: str, episodes: int, seed: int,
                   program: Path | None) -> tuple[list[dict], str]:
    env = make("pushchair", variant)
    source, named = program_source(run, program)
    recovered = transpile(source, env.program_state_size, env.action_size).is_recovered
    holding = next(f for f in env.robot.obs_fields() if f.name == "holding")
    out = episodes_of_members(env, load(run), episodes, seed, members=members, record=True)
    rows = []
    for i, member in enumerate(members):
        obs, act = out["states"]["obs"][i], out["states"]["action"][i]
        length = out["length"][i].astype(int)
        first = out["first_valid_step"][i].astype(int)
        reached = np.flatnonzero(first >= 0)
        # Steps from the first valid state to the episode's end, pooled over episodes: the
        # state before each action (obs row t is the state action t was taken in).
        steps = [(t, e) for e in reached for t in range(first[e], length[e])]
        pick = lambda a: np.array([a[t, e] for t, e in steps])  # noqa: E731
        states, actions = pick(obs), pick(act)
        tests = np.asarray([int(recovered(s)) for s in env.program_state(states)])
        held = states[:, holding.start:holding.start + holding.size] if steps else np.zeros((0, 2))
        ended_early = np.sum(length[reached] < env.episode_length)
        mean = lambda x: float(np.mean(x)) if len(x) else float("nan")  # noqa: E731
        rows.append({
            "member": member, "reached": len(reached) / episodes,
            "success": float(np.mean(out["success"][i])),
            "steps_after": mean(length[reached] - first[reached]),
            "ended_early": float(ended_early / max(len(reached), 1)),
            "is_recovered": mean(tests), "forward": mean(actions[:, FORWARD]) if steps else 0.0,
            "grips": (mean(actions[:, LEFT_GRIP]) if steps else 0.0,
                      mean(actions[:, RIGHT_GRIP]) if steps else 0.0),
            "held": (mean(held[:, 0]), mean(held[:, 1]))})
    return rows, named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--members", default="0")
    parser.add_argument("--variant", choices=("ood", "normal"), default="ood")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--program", type=Path)
    parser.add_argument("--tag")
    args = parser.parse_args()
    members = [int(m) for m in args.members.split(",")]
    rows, named = after_righting(args.run, members, args.variant, args.episodes, args.seed,
                                 args.program)
    lines = [f"`{args.run}`, {args.episodes} {args.variant} episodes per policy (key "
             f"{args.seed}), deterministic, C engine; from each episode's first valid state to "
             f"its end; is_recovered of {named}", "",
             "| policy | reached valid | success | steps after | of those ended early "
             "| is_recovered holds | forward command | grip commands L / R "
             "| palm holding L / R |", "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['member']} | {row['reached']:.0%} | {row['success']:.0%} | "
            f"{row['steps_after']:.0f} | {row['ended_early']:.0%} | {row['is_recovered']:.0%} | "
            f"{row['forward']:+.2f} | {row['grips'][0]:+.2f} / {row['grips'][1]:+.2f} | "
            f"{row['held'][0]:.0%} / {row['held'][1]:.0%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.tag:
        out = RESULTS / f"pushchair_after_righting_{args.tag}.md"
        out.write_text(f"# PushChair after righting ({args.tag})\n\n{text}")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
