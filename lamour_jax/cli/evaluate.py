"""`evaluate`: a trained policy's return, length and recovery, and a video."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from lamour_jax.cli import args as a
from lamour_jax.cli.errors import UserError
from lamour_jax.envs import ALL_ENV_NAMES, VARIANTS

if TYPE_CHECKING:
    from lamour_jax.learner.policy import LoadedPolicy


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained policy: return, length, video")
    p.add_argument("run_dir", type=Path, metavar="DIR", help="a `lamour train` run directory")
    p.add_argument("--env", choices=ALL_ENV_NAMES, metavar="ENV",
                   help="must match the policy's env (default: the policy's)")
    p.add_argument("--variant", choices=VARIANTS,
                   help="evaluate on the Normal or OOD env (default: what it trained on)")
    a.mode(p)
    p.add_argument("--episodes", type=a.positive, default=20)
    p.add_argument("--seed", type=int, default=0,
                   help="which starts (default 0); `lamour compare` reports a recovery run's "
                        "final policies on the run's seed + 101, which this prints")
    p.add_argument("--member", action=a.Renamed, old="--seed-index", type=a.member_or_all,
                   default=0, metavar="I|all",
                   help="which policy of a multi-seed or sweep run (default 0); 'all': each "
                        "of them on the same episodes, a row each and their mean ± std")
    p.add_argument("--video", type=Path,
                   help="write a GIF of the first evaluated episode here (one the table counts)")
    p.add_argument("--video-stride", type=a.positive, default=2,
                   help="render every k-th step in the video (default 2)")
    a.physics(p, "default: the engine the policy trained on")
    p.set_defaults(handler=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from lamour_jax import render
    from lamour_jax.envs import make
    from lamour_jax.learner.evaluate import evaluate_and_trace, evaluate_policy
    from lamour_jax.learner.policy import load, sweep_points
    from lamour_jax.learner.sweep import format_point
    from lamour_jax.runtime.checkpoint import CheckpointError

    try:
        policy = load(args.run_dir)
    except CheckpointError as err:
        raise UserError(str(err)) from None
    env_name = args.env or policy.meta["env"]
    if env_name != policy.meta["env"]:
        raise UserError(f"the policy in {args.run_dir} was trained on {policy.meta['env']}")
    variant = args.variant or policy.meta["variant"]
    episode_length = policy.meta.get("episode_length", 1000)
    comparison_seed = _comparison_seed(args.run_dir)
    if comparison_seed is not None and comparison_seed != args.seed:
        print(f"note: the starts of --seed {args.seed}; `lamour compare` reports this run's "
              f"final policies on those of --seed {comparison_seed} (pass it to compare "
              "figures with its table)")
    physics = args.physics or a.recorded_physics(policy.meta)
    if args.member == "all":
        if args.video is not None:
            raise UserError("--video films one policy: give --member I with it")
        print(_all_policies_table(policy, env_name, variant, args.mode, args.episodes,
                                  args.seed, episode_length, physics))
        return 0
    try:
        act = policy.act_fn(args.member)
    except ValueError as err:
        raise UserError(str(err)) from None
    points = sweep_points(policy.meta)
    if points:  # a sweep's policy index is a grid point and seed
        print(f"policy {args.member} of the sweep: {format_point(points[args.member])}")
    if args.video is None:
        out = evaluate_policy(env_name, variant, args.mode, act, args.episodes, args.seed,
                              episode_length, physics)
    else:  # the video shows the first of the episodes the table counts
        env = make(env_name, variant, args.mode, episode_length=episode_length,
                   physics=physics)
        out, trace = evaluate_and_trace(env, act, args.episodes, args.seed)
    print(f"| env | variant | physics | episodes | {_result_head(out)} |\n"
          f"|---|---|---|---:|{_result_rule(out)}\n"
          f"| {env_name} | {variant} | {physics} | {args.episodes} | {_result_cells(out)} |")
    if args.video is not None:
        path = render.save_episode_gif(env, trace.qpos, args.video, args.video_stride)
        print(f"video: {path} ({trace.describe(args.episodes)})")
    return 0


def _comparison_seed(run_dir: Path) -> int | None:
    """The --seed whose starts `lamour compare` evaluates a recovery run's final policies on
    (run_dir: the run or its best/ or peak/ folder); None for any other policy."""
    from lamour_jax.recovery.final_eval import SEED_OFFSET
    from lamour_jax.runtime.run_dir import RunDir

    for folder in (run_dir, run_dir.parent):
        try:
            return RunDir(folder).read("recovery")["seed"] + SEED_OFFSET
        except (OSError, ValueError, KeyError, TypeError):  # NotARun is a ValueError
            continue
    return None


def _has_success(out: dict) -> bool:
    """Whether the task has a success test (PushChair): its tables get a success column."""
    return "success_rate" in out


def _result_head(out: dict) -> str:
    return ("return mean | return std | episode length | reached a valid state"
            + (" | success" if _has_success(out) else ""))


def _result_rule(out: dict) -> str:
    return "---:|" * (5 if _has_success(out) else 4)


def _result_cells(out: dict) -> str:
    cells = [f"{out['return_mean']:.1f}", f"{out['return_std']:.1f}",
             f"{out['length_mean']:.0f}", f"{out['recovery_rate']:.0%}"]
    if _has_success(out):
        cells.append(f"{out['success_rate']:.0%}")
    return " | ".join(cells)


def _all_policies_table(policy: LoadedPolicy, env_name: str, variant: str, mode: str,
                        episodes: int, seed: int, episode_length: int, physics: str) -> str:
    """`lamour evaluate --member all`: a row per policy (with its sweep point, if any),
    then the spread over policies, the figure a multi-seed run is reported by."""
    import numpy as np

    from lamour_jax.learner.evaluate import evaluate_policies
    from lamour_jax.learner.policy import sweep_points
    from lamour_jax.learner.sweep import format_point

    results = evaluate_policies(env_name, variant, mode, policy, episodes, seed, episode_length,
                                physics)
    points = sweep_points(policy.meta)
    hp_head, hp_rule = ("hyperparameters | ", "---|") if points else ("", "")
    lines = [f"{env_name} ({variant}), {episodes} episodes per policy, the same starts for each:",
             f"| policy | {hp_head}{_result_head(results[0])} |",
             f"|---:|{hp_rule}{_result_rule(results[0])}"]
    for index, out in enumerate(results):
        hp = f"{format_point(points[index])} | " if points else ""
        lines.append(f"| {index} | {hp}{_result_cells(out)} |")
    # The spread over seeds; a sweep's per grid point, as its points are not seeds of one.
    groups: dict[str, list[dict]] = {}
    for index, out in enumerate(results):
        label = format_point(points[index]) if points else f"the {len(results)} policies"
        groups.setdefault(label, []).append(out)
    lines.append("")
    for label, outs in groups.items():
        means = [out["return_mean"] for out in outs]
        lines.append(f"return over {label} (mean ± std of {len(means)} policies' means): "
                     f"{np.mean(means):.1f} ± {np.std(means):.1f}")
        if _has_success(outs[0]):
            rates = [out["success_rate"] for out in outs]
            lines.append(f"success over {label}: {np.mean(rates):.0%} ± {np.std(rates):.0%}")
    return "\n".join(lines)
