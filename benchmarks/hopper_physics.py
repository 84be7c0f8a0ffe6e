"""Why our hopper steps slower than brax's: the same batched stepping, three hoppers.

- ours: the project's hopper (every body geom touches the floor, solver 4 iterations x 10
  line-search steps);
- ours, foot contact only: the same, without the contact edit (brax's contact set);
- brax's: `brax.envs.get_environment("hopper", backend="mjx")` (foot contact only, 4 x 50).

Each steps 256 envs with uniform random actions for 80 steps in one jitted scan, no resets,
best of 3. Run it in both venvs to see what JAX/MJX does to each:

    .venv/bin/python benchmarks/hopper_physics.py
    .venv-brax/bin/python benchmarks/hopper_physics.py      # brax's older JAX and MJX
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import jax
import mujoco


def steps_per_second(reset: Callable, step: Callable, action_size: int, num_envs: int,
                     steps: int) -> float:
    state = jax.jit(jax.vmap(reset))(jax.random.split(jax.random.PRNGKey(0), num_envs))

    @jax.jit
    def roll(state):  # noqa: ANN001, ANN202
        def one(s, key):  # noqa: ANN001, ANN202
            action = jax.random.uniform(key, (num_envs, action_size), minval=-1, maxval=1)
            return jax.vmap(step)(s, action), None

        keys = jax.random.split(jax.random.PRNGKey(1), steps)
        return jax.lax.scan(one, state, keys)[0].obs

    jax.block_until_ready(roll(state))
    times = []
    for _ in range(3):
        tick = time.perf_counter()
        jax.block_until_ready(roll(state))
        times.append(time.perf_counter() - tick)
    return num_envs * steps / min(times)


def hoppers() -> dict[str, tuple[Callable, Callable, int, str]]:
    from brax import envs as brax_envs

    from lamour_jax.envs import planar
    from lamour_jax.envs.base import Env

    class FootContactHopper(planar.Hopper):
        body_floor_contact = False

    out = {}
    for label, robot in (("ours", planar.Hopper()),
                         ("ours, foot contact only", FootContactHopper())):
        env = Env(robot)
        opt = robot.mj_model.opt
        out[label] = (env.reset, env.step, env.action_size,
                      f"{opt.iterations} x {opt.ls_iterations}")
    brax = brax_envs.get_environment("hopper", backend="mjx")
    opt = brax.sys.mj_model.opt
    out["brax's"] = (brax.reset, brax.step, brax.action_size,
                     f"{opt.iterations} x {opt.ls_iterations}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=80)
    args = parser.parse_args()
    print(f"jax {jax.__version__}, mjx {mujoco.__version__}, {jax.devices()[0]}, "
          f"{args.num_envs} envs, random actions\n")
    print("| hopper | solver iterations x line search | env steps/s |\n|---|---|---:|")
    for label, (reset, step, action_size, solver) in hoppers().items():
        sps = steps_per_second(reset, step, action_size, args.num_envs, args.steps)
        print(f"| {label} | {solver} | {sps:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
