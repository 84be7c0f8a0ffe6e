"""Where can LaMOuR's consolidation act? Each reference program's is_recovered on the original's
own Normal-env steps.

Consolidation pulls a recovering policy towards the original only on states where the
program's `is_recovered` holds. If the original's own states while it does the task mostly
fail that test, consolidation cannot keep the task however large c is. This runs each shipped
original (and its SeRO-ready `-dropout` twin) from the Normal env's starts, the episodes
`lamour recover` evaluates it on before training (32, key seed + 1), and reports the share of
its steps on which the offline reference program's `is_recovered` holds: the figure a LaMOuR
run logs and records in `before.json` (`consolidation_coverage`), warning below 50 %.

    .venv/bin/python benchmarks/consolidation_coverage.py [ENV ...] [--physics native|mjx]
        [--tag cpu-x]

Writes benchmarks/results/consolidation_coverage_<tag>.md when --tag is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lamour_jax.envs import make
from lamour_jax.learner.policy import load
from lamour_jax.policies import shipped_policy
from lamour_jax.recovery.run import COVERAGE_WARNING, RecoverySpec, consolidation_coverage
from lamour_jax.rewards import reference_source
from lamour_jax.transpile import candidate_set, transpile

RESULTS = Path(__file__).parent / "results"
ENVS = ("hopper", "walker2d", "halfcheetah", "ant", "humanoid", "pushchair")


def coverage(env_name: str, policy_name: str, physics: str) -> float:
    env = make(env_name, "ood", physics=physics)
    program = transpile(reference_source(env_name), env.program_state_size, env.action_size)
    spec = RecoverySpec(env_name, "lamour", steps=0, physics=physics)  # steps: unused here
    share, = consolidation_coverage(spec, load(shipped_policy(policy_name)),
                                    candidate_set([program], env.program_state),
                                    env.episode_length)
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("envs", nargs="*", default=list(ENVS))
    parser.add_argument("--physics", choices=("native", "mjx"), default="native")
    parser.add_argument("--tag")
    args = parser.parse_args()
    lines = ["Share of each shipped original's steps from Normal starts (32 episodes, the "
             "starts `lamour recover` evaluates it on) on which the offline reference "
             f"program's `is_recovered` holds; {args.physics} physics. LaMOuR runs warn below "
             f"{COVERAGE_WARNING:.0%}.", "", "| env | original | is_recovered holds |",
             "|---|---|---:|"]
    for env_name in args.envs:
        for policy_name in (env_name, f"{env_name}-dropout"):
            share = coverage(env_name, policy_name, args.physics)
            flag = " (below the warning)" if share < COVERAGE_WARNING else ""
            lines.append(f"| {env_name} | `{policy_name}` | {share:.0%}{flag} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.tag:
        out = RESULTS / f"consolidation_coverage_{args.tag}.md"
        out.write_text(f"# Consolidation coverage ({args.tag})\n\n{text}\nReproduce: "
                       f"`.venv/bin/python benchmarks/consolidation_coverage.py "
                       f"{' '.join(args.envs)} --physics {args.physics} --tag {args.tag}`\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
