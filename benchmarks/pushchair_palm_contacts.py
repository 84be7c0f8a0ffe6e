"""Where do a PushChair policy's palms touch the chair, and do they take hold?

Runs policies of a run (`lamour train` or `lamour recover`) from the same paper-mode OOD (or
Normal) starts, deterministic, and at every step records, for each palm whose surface is within
1 cm of the seat or backrest, where its centre is in the seat's frame (x forward from the
seat's centre, z up from the seat's origin; the backrest is the box at x = -0.22 +- 0.025,
|y| <= 0.22, z = 0.08-0.58). Reported per policy: the share of palm-steps touching the chair,
where those touches are (on the backrest's front face, on its rear face, elsewhere: the seat
or an edge), how near the nearest grip point comes, and the share of palm-steps holding.

    .venv/bin/python benchmarks/pushchair_palm_contacts.py RUN_DIR [--members 0,1]
        [--episodes 8] [--variant ood|normal] [--tag cpu-x]

Writes benchmarks/results/pushchair_palm_contacts_<tag>.md when --tag is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import mujoco
import numpy as np

from lamour_jax.envs import make
from lamour_jax.envs.native import field
from lamour_jax.learner.policy import load

RESULTS = Path(__file__).parent / "results"
TOUCH = 0.01  # palm surface to chair surface (`palm_distances`)


def contacts(run: Path, member: int, episodes: int, variant: str, seed: int) -> dict:
    env = make("pushchair", variant)
    r = env.robot
    seat = mujoco.mj_name2id(r.mj_model, mujoco.mjtObj.mjOBJ_BODY, "seat")

    def measure(data):
        origin = field(data, "xpos")[seat]
        frame = field(data, "xmat")[seat].reshape(3, 3)
        palms = (field(data, "geom_xpos")[r.palms] - origin) @ frame
        return palms, r.palm_distances(data), r.grip_point_distances(data).min(-1), \
            r.holding(data)

    act = jax.jit(load(run).act_fn(member))
    step, measure = jax.jit(jax.vmap(env.step)), jax.jit(jax.vmap(measure))
    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.key(seed), episodes))
    where, touching, nearest, holding = [], [], [], []
    for _ in range(env.episode_length):
        state = step(state, act(state.obs))
        palms, surface, grip_point, held = map(np.asarray, measure(state.data))
        where.append(palms[surface < TOUCH])
        touching.append(surface < TOUCH)
        nearest.append(grip_point)
        holding.append(held)
    where = np.concatenate(where)
    x = where[:, 0] if len(where) else np.zeros(0)
    front = (x > -0.17) & (x < -0.09)
    rear = x < -0.27
    share = (lambda m: float(m.mean()) if len(where) else float("nan"))  # noqa: E731
    return {"member": member, "touching": float(np.mean(touching)),
            "front_face": share(front), "rear_face": share(rear),
            "elsewhere": share(~front & ~rear),
            "nearest_grip_point_m": float(np.min(nearest)),
            "holding": float(np.mean(holding))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--members", default="0")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--variant", choices=("ood", "normal"), default="ood")
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--tag")
    args = parser.parse_args()
    rows = [contacts(args.run, int(m), args.episodes, args.variant, args.seed)
            for m in args.members.split(",")]
    lines = [f"`{args.run}`, {args.episodes} {args.variant} episodes per policy (key "
             f"{args.seed}), deterministic; shares of palm-steps", "",
             "| policy | touching the chair | of those: front face | rear face | seat or edge "
             "| nearest any grip point came | holding |", "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['member']} | {row['touching']:.0%} | {row['front_face']:.0%} | "
                     f"{row['rear_face']:.0%} | {row['elsewhere']:.0%} | "
                     f"{row['nearest_grip_point_m']:.3f} m | {row['holding']:.0%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.tag:
        out = RESULTS / f"pushchair_palm_contacts_{args.tag}.md"
        out.write_text(f"# PushChair palm contacts ({args.tag})\n\n{text}")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
