"""Where does a recovered agent's return go? The hand-off from getting up to the task.

A recovered policy that gets up in every episode can still score far below the original: it
may fall again after getting up (the OOD env ends the episode then), or carry on at a slower
gait. This script runs each seed of a recovery run's policy from the same OOD starts three
ways and reports return, episode length and how often an episode ends by falling again:

  recovered      the retrained policy throughout;
  hand-off       the retrained policy until the state first passes the validity test, then
                 the original policy (can the original carry on from where it got up?);
  original       the original from Normal-env starts (the task return to keep).

If the hand-off keeps the original's return, the states after getting up are within the
original's competence, and the retrained policy lost the task behaviour (consolidation too weak
or gated too narrowly). If the hand-off falls too, getting up leaves the agent where even the
original cannot go on, and the recovery itself must end in a better state.

For the episodes that fall again it also says which of the env's validity conditions failed at
the end (the ant's "z <= 1.0" is an overshoot, "|roll|, |pitch| <= pi/2" a turn back over).

    .venv/bin/python benchmarks/recovery_handoff.py RUN_DIR [--episodes 32] [--tag cpu-hopper]

RUN_DIR: a `lamour recover` run (or a compare's method folder); its original and settings are
read from its config.json. Writes benchmarks/results/recovery_handoff_<tag>.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lamour_jax.envs import UNRECORDED_PHYSICS, make
from lamour_jax.learner.evaluate import evaluate_policy
from lamour_jax.learner.policy import load
from lamour_jax.recovery.final_eval import SEED_OFFSET
from lamour_jax.runtime.run_dir import RunDir

RESULTS = Path(__file__).parent / "results"
# A fall this many steps or fewer after first getting up counts as "quick" (never settled).
QUICK_FALL = 30


def handoff_episodes(env, recovered, original, key, episodes: int, hand_off: bool):
    """Episodes to the time limit from `env`'s starts; with `hand_off` the original acts from
    the first valid state on. Per episode: return, length, whether it ended by falling, and
    which validity conditions failed on its last step (`failed`, by condition name)."""
    start = jax.vmap(env.reset)(jax.random.split(key, episodes))
    conditions = jax.vmap(env.robot.validity_conditions)

    has_success = "success" in start.metrics

    def step(carry, _):
        state, alive, ret, length, up, up_at, success, failed = carry
        act = recovered(state.obs)
        if hand_off:
            act = jnp.where(state.info["recovered_once"][:, None], original(state.obs), act)
        nxt = jax.vmap(env.step)(state, act)
        ret = ret + alive * nxt.reward
        length = length + alive
        gets_up = alive * nxt.info["recovered_once"] * (1.0 - up)
        up_at = jnp.where(gets_up > 0, length, up_at)
        up = jnp.maximum(up, alive * nxt.info["recovered_once"])
        if has_success:  # the task's success test at the episode's last step
            success = jnp.where(alive > 0, nxt.metrics["success"], success)
        ends = (alive * nxt.done * (1.0 - nxt.info["truncation"])) > 0
        now_failed = {name: ~holds for name, holds in
                      conditions(nxt.data.qpos, nxt.data.qvel).items()}
        now_failed["diverged"] = nxt.info["diverged"] > 0
        failed = {name: jnp.where(ends, now_failed[name], was) for name, was in failed.items()}
        alive = alive * (1.0 - nxt.done)
        return (nxt, alive, ret, length, up, up_at, success, failed), None

    ones = jnp.ones(episodes)
    never = jnp.zeros(episodes, bool)
    failed = {name: never for name in
              jax.eval_shape(conditions, start.data.qpos, start.data.qvel)} | {"diverged": never}
    carry = (start, ones, 0 * ones, 0 * ones, 0 * ones, 0 * ones, 0 * ones, failed)
    (_, _, ret, length, up, up_at, success, failed), _ = jax.lax.scan(
        step, carry, None, length=env.episode_length)
    # up_at: the step the state first passed the validity test (1-based); an episode that
    # fell again did so `length - up_at` steps after getting up.
    out = {"return": ret, "length": length, "fell": length < env.episode_length, "up": up,
           "up_at": up_at, "failed": failed}
    if has_success:
        out["success"] = success
    return out


def summary(out) -> dict:
    out = jax.device_get(out)
    fell = out["fell"] & (out["up"] > 0)
    stayed_up = (out["length"] - out["up_at"])[fell]
    row = {"return_mean": float(np.mean(out["return"])),
           "return_std": float(np.std(out["return"])),
           "length_mean": float(np.mean(out["length"])),
           "got_up": float(np.mean(out["up"])),
           "fell_again": float(np.mean(out["fell"])),
           # How long the falls that follow getting up came after it: a fall within a few
           # steps is a recovery that never settled; a late one, a task behaviour that fails.
           "up_step_median": (float(np.median(out["up_at"][out["up"] > 0]))
                              if np.any(out["up"] > 0) else None),
           "steps_up_before_falling_median": (float(np.median(stayed_up)) if stayed_up.size
                                              else None),
           "fell_within_quick": float(np.mean(fell & (out["length"] - out["up_at"]
                                                      <= QUICK_FALL))),
           # Of the episodes that fell after getting up: the share that failed each condition
           # on its last step (one episode can fail several).
           "fell_on": {name: (float(np.mean(failed[fell])) if fell.any() else None)
                       for name, failed in out["failed"].items()}}
    if "success" in out:
        row["success"] = float(np.mean(out["success"]))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--seed", type=int, default=None,
                        help=f"starts' seed (default: the run's seed + {SEED_OFFSET}, the "
                        "starts `lamour compare` reports its final policies on)")
    parser.add_argument("--mode", choices=("paper", "diverse"), default="paper")
    parser.add_argument("--tag", default="cpu")
    args = parser.parse_args()
    record = RunDir(args.run).read("recovery")
    if args.seed is None:
        args.seed = record.get("seed", 0) + SEED_OFFSET
    env_name, physics = record.env, record.get("physics", UNRECORDED_PHYSICS)
    length = record.ppo.episode_length
    recovered = load(args.run / "best")
    original = load(Path(record["policy"]))
    member = record.get("policy_member", 0)
    env = make(env_name, "ood", args.mode, episode_length=length, physics=physics)
    orig_act = original.act_fn(member)
    run = jax.jit(lambda m, k, hand_off: handoff_episodes(
        env, lambda obs: recovered.fns.act(*m, obs), orig_act, k, args.episodes, hand_off),
        static_argnums=2)
    key = jax.random.key(args.seed)
    rows = []
    for m in range(recovered.members):
        params = jax.tree.map(lambda x, m=m: x[m], (recovered.actor_params, recovered.obs_stats))
        rows.append({"seed": m, "recovered": summary(run(params, key, False)),
                     "hand_off": summary(run(params, key, True))})
        print(f"seed {m}: recovered {rows[-1]['recovered']['return_mean']:.0f}, hand-off "
              f"{rows[-1]['hand_off']['return_mean']:.0f}", flush=True)
    normal = evaluate_policy(env_name, "normal", "paper", orig_act, args.episodes, args.seed,
                             length, physics)
    record_out = {"run": str(args.run), "env": env_name, "physics": physics, "mode": args.mode,
                  "starts_seed": args.seed,
                  "episodes": args.episodes, "seeds": rows, "original_normal": normal,
                  "machine": f"{platform.machine()}, {jax.devices()[0].device_kind}"}
    with_success = "success" in rows[0]["recovered"]
    columns = (["return", "length", "got up", "fell again", f"fell ≤ {QUICK_FALL} steps after up",
                "median steps up before falling"] + ["success"] * with_success)

    def median(x: float | None) -> str:
        return "-" if x is None else f"{x:.0f}"

    def cells(row: dict) -> str:
        out = [f"{row['return_mean']:.1f} ± {row['return_std']:.1f}",
               f"{row['length_mean']:.0f}", f"{row['got_up']:.0%}", f"{row['fell_again']:.0%}",
               f"{row['fell_within_quick']:.0%}",
               median(row["steps_up_before_falling_median"])]
        if with_success:
            out.append(f"{row['success']:.0%}")
        return " | ".join(out)

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"recovery_handoff_{args.tag}.json").write_text(json.dumps(record_out, indent=2))
    lines = [f"# Recovery hand-off: {env_name}, {args.mode} OOD starts ({args.tag})", "",
             f"Run: `{args.run}` ({physics} physics), {args.episodes} episodes per seed, the "
             "same starts for both ways; the original from Normal starts: "
             f"**{normal['return_mean']:.1f}** (length {normal['length_mean']:.0f}).", "",
             f"| seed | recovered: {' | '.join(columns)} | hand-off to the original: "
             f"{' | '.join(columns)} |", "|---:|" + "---:|" * 2 * len(columns)]
    for r in rows:
        lines.append(f"| {r['seed']} | {cells(r['recovered'])} | {cells(r['hand_off'])} |")
    # In the robot's own order (a compiled program's outputs come back sorted by name).
    conditions = [*env.robot.validity_conditions(*env.robot.normal_state(key)), "diverged"]
    headers = [c.replace("|", "\\|") for c in conditions]  # a bare | would split the cell

    def shares(row: dict) -> str:
        return " | ".join("-" if row["fell_on"][c] is None else f"{row['fell_on'][c]:.0%}"
                          for c in conditions)

    lines += ["", "Of the episodes that got up and fell again, the share that failed each of the "
              "env's validity conditions on the last step (an episode can fail several; "
              "\"diverged\": the physics went non-finite):", "",
              f"| seed | recovered: {' | '.join(headers)} | hand-off: "
              f"{' | '.join(headers)} |", "|---:|" + "---:|" * 2 * len(conditions)]
    for r in rows:
        lines.append(f"| {r['seed']} | {shares(r['recovered'])} | {shares(r['hand_off'])} |")
    lines += ["", "Reproduce: `.venv/bin/python benchmarks/recovery_handoff.py "
              f"{args.run} --episodes {args.episodes} --mode {args.mode} --seed {args.seed} "
              f"--tag {args.tag}`", ""]
    (RESULTS / f"recovery_handoff_{args.tag}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
