"""Can a hold at a given grip point lift a lying chair? A scripted PushChair controller.

From paper-mode OOD starts, the robot lowers its arms (torso lift down, shoulders and elbows
towards the floor) while driving its base so that the left palm comes over the chosen grip
point; once the arms are down and the palm is within reach it closes the left grip; holding,
it raises the torso lift and the shoulders and backs off while the chair's tilt is over 0.2
rad (the procedure of the grip test in tests/test_envs.py, aimed at any grip point). Reported
per start: the step the hold was taken and which point it took, the smallest tilt reached,
the tilt at the end and whether the end state is valid (tilt <= 0.1 pi).

    .venv/bin/python benchmarks/pushchair_scripted_lift.py [POINT ...] [--starts 3]
        [--steps 250] [--physics native|mjx]

POINT: grip point names (envs/pushchair.py `_grip_points`); default the top edge's left one
and the front face's left and middle ones.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from lamour_jax.envs import make
from lamour_jax.envs.native import field
from lamour_jax.envs.pushchair import GRIP_REACH, _grip_points

DOWN_ARMS = np.array([0, 0.6, 0.3, 0, 0, 0.6, 0.3, 0], float)
UP_ARMS = np.array([0, -0.5, 0, 0, 0, -0.5, 0, 0], float)


def lift_from(env, point: str, start: int, steps: int) -> dict:
    r = env.robot
    names = [name for name, _ in _grip_points()]
    target = int(r.grip_points[names.index(point)])
    step = jax.jit(env.step)
    state = jax.jit(env.reset)(jax.random.key(start))
    taken, tilts = None, []
    for t in range(steps):
        yaw = float(state.data.qpos[2])
        turn = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]])
        if float(r.holding(state.data)[0]) == 0.0:
            sites = np.asarray(field(state.data, "site_xpos"))
            offset = sites[target] - sites[int(r.grips[0])]
            drive = np.clip(4.0 * (turn @ offset[:2]), -0.3, 0.3)
            lowered = np.allclose(r.arm_target_positions(state.data), DOWN_ARMS, atol=0.01)
            close = float(lowered and np.linalg.norm(offset) < GRIP_REACH)
            a = r.scripted_action(state.data, (*drive, 0.0), -1.0, DOWN_ARMS, (close, 0.0))
        else:
            if taken is None:
                held = np.flatnonzero(np.asarray(field(state.data, "eq_active")) > 0.5)
                taken = (t, names[int(held[0]) % len(names)])
            low = float(r.chair_tilt(state.data.qpos)) > 0.2
            a = r.scripted_action(state.data, (-0.3 * low, 0.0, 0.0), 1.0, UP_ARMS, (1.0, 0.0))
        state = step(state, a)
        tilts.append(float(r.chair_tilt(state.data.qpos)))
    return {"point": point, "start": start, "taken": taken, "min_tilt": min(tilts),
            "end_tilt": tilts[-1], "valid": bool(state.info["valid"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("points", nargs="*", default=["left_hold", "front_low_left_hold",
                                                      "front_high_left_hold",
                                                      "front_low_middle_hold"])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--physics", choices=("native", "mjx"), default="native")
    args = parser.parse_args()
    env = make("pushchair", "ood", physics=args.physics)
    print("| grip point | start | hold taken (step, point) | smallest tilt | tilt at the end "
          "| valid at the end |\n|---|---:|---|---:|---:|---|")
    for point in args.points:
        for start in range(args.starts):
            row = lift_from(env, point, start, args.steps)
            print(f"| {point} | {start} | {row['taken'] or 'never'} | {row['min_tilt']:.2f} | "
                  f"{row['end_tilt']:.2f} | {row['valid']} |")


if __name__ == "__main__":
    main()
