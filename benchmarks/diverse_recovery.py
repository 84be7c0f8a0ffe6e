"""Which diverse fallen states does a recovered policy get up from? Recovery by start pose.

The diverse OOD set (the sampler's `diverse` mode: random pitch and joints, dropped and settled)
mixes poses of very different difficulty. For the planar robots the pitch at the start tells
them apart: fallen backwards (pitch in [-pi, 0)), forwards (pitch in [0, pi]; a planar robot's
positive pitch tips its top towards +x, where it walks), or rolled past a half turn (beyond
+-pi; the env's raw-angle validity test then needs the roll undone). The paper's pose lies on
one side (hopper -1.75, walker2d +1.57, halfcheetah -2.88). This script runs every seed of each
run's final policies and the original on the same diverse starts (the evaluation's bank, as
`lamour compare` uses) and reports the share of episodes that got up, per pose class.

    .venv/bin/python benchmarks/diverse_recovery.py RUN_DIR [RUN_DIR ...] [--episodes 128]
        [--tag cpu-hopper]

RUN_DIR: `lamour recover` runs or a compare's method folders of one env; the original is the
first run's. Writes benchmarks/results/diverse_recovery_<tag>.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import jax
import numpy as np

from lamour_jax.envs import UNRECORDED_PHYSICS, make
from lamour_jax.learner.evaluate import episodes_of_members
from lamour_jax.learner.policy import load
from lamour_jax.runtime.run_dir import RunDir

RESULTS = Path(__file__).parent / "results"
PLANAR = ("hopper", "walker2d", "halfcheetah")
PITCH = 2  # rooty in a planar robot's qpos (rootx, rootz, rooty, joints...)
CLASSES = {
    "fallen backwards, pitch in [-pi, 0)": lambda p: (p >= -np.pi) & (p < 0),
    "fallen forwards, pitch in [0, pi]": lambda p: (p >= 0) & (p <= np.pi),
    "rolled past a half turn, pitch beyond ±pi": lambda p: np.abs(p) > np.pi,
}


def got_up(env, policy, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(members x episodes: whether each got up, the start pitch of each episode)."""
    out = episodes_of_members(env, policy, episodes, seed, record=True)
    return out["first_valid_step"] >= 0, np.asarray(out["states"]["qpos"][0, 0, :, PITCH])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--episodes", type=int, default=128)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tag", default="cpu")
    args = parser.parse_args()
    records = [RunDir(run).read("recovery") for run in args.runs]
    env_name = records[0].env
    if env_name not in PLANAR:
        parser.error(f"pose classes by pitch are for {', '.join(PLANAR)}, not {env_name}")
    if any(r.env != env_name for r in records):
        parser.error("all runs must recover the same env")
    physics = records[0].get("physics", UNRECORDED_PHYSICS)
    env = make(env_name, "ood", "diverse", episode_length=records[0].ppo.episode_length,
               physics=physics)
    policies = {"original": load(Path(records[0]["policy"]))}
    member = records[0].get("policy_member", 0)
    for run, record in zip(args.runs, records, strict=True):
        label = (f"{run.parent.name}/{run.name} ({record['method']}, diverse starts "
                 f"{record.get('diverse_starts', 0.0):g}, mode {record['mode']})")
        policies[label] = load(run / "best")
    rows: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for label, policy in policies.items():
        up, pitch = got_up(env, policy, args.episodes, args.seed)
        if label == "original":
            up = up[member:member + 1]
        rows[label] = {"all": float(up.mean())}
        for name, test in CLASSES.items():
            chosen = test(pitch)
            counts[name] = int(chosen.sum())
            rows[label][name] = float(up[:, chosen].mean()) if chosen.any() else float("nan")
        print(label, {k: round(v, 2) for k, v in rows[label].items()}, flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"diverse_recovery_{args.tag}.json").write_text(json.dumps({
        "env": env_name, "physics": physics, "episodes": args.episodes, "seed": args.seed,
        "counts": counts, "rows": rows,
        "machine": f"{platform.machine()}, {jax.devices()[0].device_kind}"}, indent=2))
    names = list(CLASSES)
    lines = [f"# Recovery from diverse starts by pose: {env_name} ({args.tag})", "",
             f"{args.episodes} diverse OOD starts from the evaluation's bank (seed {args.seed}), "
             f"{physics} physics; each cell: the share of episodes (over every seed of the "
             "run's final policies) that got up. The paper's pose has pitch "
             f"{float(env.robot.ood_paper_state(jax.random.key(0))[0][PITCH]):.2f}.", "",
             "| policy | all | " + " | ".join(f"{n} ({counts[n]} starts)" for n in names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    for label, row in rows.items():
        lines.append(f"| {label} | {row['all']:.0%} | "
                     + " | ".join(f"{row[n]:.0%}" for n in names) + " |")
    lines += ["", "Reproduce: `.venv/bin/python benchmarks/diverse_recovery.py "
              + " ".join(str(r) for r in args.runs)
              + f" --episodes {args.episodes} --seed {args.seed} --tag {args.tag}`", ""]
    (RESULTS / f"diverse_recovery_{args.tag}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
