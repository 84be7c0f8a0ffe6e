"""`lamour train` and `lamour evaluate`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from lamour_jax import xla_runtime
from lamour_jax.commands import UserError
from lamour_jax.envs import make
from lamour_jax.learner import PPOConfig, default_config, distributed, make_train
from lamour_jax.learner.checkpoint import CheckpointError, resume_budget
from lamour_jax.learner.config import FRESH_CRITIC_WARMUP_STEPS, read_run_record
from lamour_jax.learner.curves import plot_learning_curve
from lamour_jax.learner.policy import LoadedPolicy, architecture, check_architecture, load
from lamour_jax.learner.run import TrainingDiverged, run_training
from lamour_jax.learner.run_lock import RunDirInUse, hold_run_dir
from lamour_jax.learner.stall import cpu_hang_warning
from lamour_jax.learner.sweep import Sweep, format_point, summary_table

EXIT_DIVERGED = 3


def _write_run_config(out: Path, env_name: str, variant: str, seeds: int, seed: int,
                      config: PPOConfig, sweep: Sweep | None,
                      init_policy: dict[str, Any] | None) -> None:
    record = {"env": env_name, "variant": variant, "seeds": seeds, "seed": seed,
              "devices": jax.device_count(), "ppo": dataclasses.asdict(config)}
    if sweep is not None:  # seeds is then per grid point
        record["sweep"] = sweep.to_record()
    if init_policy is not None:  # where the actors started (a resume does not need it)
        record["init_policy"] = init_policy
    # Written whole or not at all: in a multi-process resume process 0 rewrites this file
    # while the others read it, and a half-written file would stop them.
    tmp = out / "config.json.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(out / "config.json")


def _read_run_config(run_dir: Path) -> dict:
    path = run_dir / "config.json"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.json)")
    try:
        record, ppo = read_run_record(path)
    except ValueError as err:
        raise UserError(str(err)) from None
    return {**record, "ppo": ppo}


def _parse_sweep(args: argparse.Namespace, seeds: int, config: PPOConfig) -> Sweep | None:
    if not args.sweep:
        return None
    sweep = Sweep.parse(args.sweep, seeds, config)
    both = sorted(set(sweep.values) & {item.partition("=")[0] for item in args.set or []})
    if both:
        raise ValueError(f"{', '.join(both)}: given to both --set and --sweep; keep one")
    return sweep


def _init_policy(args: argparse.Namespace) -> LoadedPolicy:
    """--init-policy DIR, once its policy number --init-policy-index is known to load and to
    fit ENV."""
    try:
        policy = load(args.init_policy)
        policy.seed(args.init_policy_index)
    except (CheckpointError, ValueError) as err:
        raise UserError(f"--init-policy {args.init_policy}: {err}") from None
    if policy.meta["env"] != args.env:
        raise UserError(f"--init-policy {args.init_policy} was trained on "
                        f"{policy.meta['env']}, not {args.env}")
    return policy


def _join_processes(args: argparse.Namespace) -> None:
    """`--distributed` / `--coordinator ...`: become one process of a multi-process run."""
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if not args.distributed and all(v is None for v in explicit):
        return
    try:
        distributed.initialize(*explicit)
    except ValueError as err:
        raise UserError(str(err)) from None


def cmd_train(args: argparse.Namespace) -> int:
    _join_processes(args)
    primary = distributed.is_primary()
    if args.resume is not None:
        out = args.resume
        record = _read_run_config(out)
        env_name, variant = record["env"], record["variant"]
        seeds, seed, config = record["seeds"], record["seed"], record["ppo"]
        if args.env != env_name:
            raise UserError(f"{out} trains {env_name}, not {args.env}")
        if args.sweep:
            raise UserError(f"--sweep cannot change on --resume: {out} goes on with the sweep "
                            "it started with (its config.json)")
        if args.init_policy is not None:
            raise UserError(f"--init-policy starts a run; {out} continues from its checkpoint")
        init = None
        sweep = Sweep.from_record(record["sweep"], seeds) if record.get("sweep") else None
        try:
            done, planned = resume_budget(out, config, args.steps or config.total_steps)
        except ValueError as err:
            raise UserError(f"{err}: give --steps of more than that to train it further"
                            ) from None
        if done and done == planned:
            # Nothing left: say so rather than compile a program that would not run.
            if primary:
                print(f"{out} has trained all of its {done:,} steps per seed; nothing to do "
                      "(--steps N with N above that trains it further)", file=sys.stderr)
            return 0
        note = xla_runtime.device_change_note(record.get("devices"), jax.device_count())
        if note and primary:
            print(note, file=sys.stderr)
        if args.steps is not None:
            note = config.budget_change_note(args.steps)
            if note and primary:
                print(note, file=sys.stderr)
            config = config.replace(total_steps=args.steps)
    else:
        env_name, variant, seeds, seed = args.env, args.variant, args.seeds, args.seed
        init = _init_policy(args) if args.init_policy is not None else None
        try:
            config = default_config(env_name)
            if init is not None:  # its architecture, under the user's --set
                config = config.replace(**architecture(init),
                                        policy_dropout=init.meta["policy_dropout"],
                                        obs_clip=init.meta.get("obs_clip", config.obs_clip),
                                        critic_warmup_steps=FRESH_CRITIC_WARMUP_STEPS)
            config = config.override(args.set or [])
            if init is not None:
                check_architecture(config, init, "the actor of --init-policy")
            if args.steps is not None:
                config = config.replace(total_steps=args.steps)
            if args.num_envs is not None:
                config = config.replace(num_envs=args.num_envs)
            config = config.validate()
            sweep = _parse_sweep(args, seeds, config)
        except ValueError as err:
            raise UserError(str(err)) from None
        out = args.out or Path("runs") / f"{env_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    # Held from here on, so that a second command on the same folder can neither start over
    # this run's files nor pass the check below while this one is writing its first checkpoint.
    try:
        with hold_run_dir(out):
            if args.resume is None and (out / "checkpoints").exists() and any(
                    (out / "checkpoints").iterdir()):
                raise UserError(f"{out} already holds a run; continue it with --resume {out} "
                                "or choose another --out")
            return _train(args, out, env_name, variant, seeds, seed, config, sweep, init)
    except RunDirInUse as err:
        raise UserError(str(err)) from None


def _train(args: argparse.Namespace, out: Path, env_name: str, variant: str, seeds: int,
           seed: int, config: PPOConfig, sweep: Sweep | None,
           init: LoadedPolicy | None) -> int:
    """Everything `lamour train` does once its run folder is settled and held; `init`: the
    policy a fresh run starts its actors from (a resume restores them instead)."""
    primary = distributed.is_primary()
    # A resume that cannot restore its checkpoint leaves the record as it found it.
    recorded = (out / "config.json").read_text() if args.resume is not None else None
    if primary:
        if init is not None:
            started_from = {"path": str(Path(args.init_policy).absolute()),
                            "index": args.init_policy_index}
        else:  # a resume keeps what the run recorded
            started_from = json.loads(recorded).get("init_policy") if recorded else None
        _write_run_config(out, env_name, variant, seeds, seed, config, sweep, started_from)
    hang = cpu_hang_warning(env_name, config.num_envs, jax.default_backend())
    for note in (hang, config.few_iterations_note()):
        if note and primary:
            print(note, file=sys.stderr)
    env = make(env_name, variant, episode_length=config.episode_length)
    try:
        trainer = make_train(env, config, init_actor=None if init is None
                             else init.seed(args.init_policy_index))
    except ValueError as err:
        raise UserError(str(err)) from None
    members = sweep.size if sweep is not None else seeds
    meta = {"env": env_name, "variant": variant, "seeds": members,
            "observation_size": env.observation_size, "action_size": env.action_size,
            "policy_hidden": list(config.policy_hidden), "activation": config.activation,
            "policy_dropout": config.policy_dropout,
            "normalize_observations": config.normalize_observations,
            "obs_clip": config.obs_clip,
            "obs_std_floor": config.obs_std_floor,
            "episode_length": config.episode_length}
    if sweep is not None:  # what each policy index (`lamour evaluate --seed-index`) trained with
        meta["sweep"] = [sweep.member(m) for m in range(members)]
    grid = "" if sweep is None else (f" x {len(sweep.points)} grid points "
                                     f"({', '.join(sweep.values)})")
    if primary:
        print(f"training {env_name} ({variant}) for "
              f"{config.num_evals * config.steps_per_eval:,} steps x {seeds} seed(s){grid}, "
              f"{config.num_envs} envs, {jax.device_count()} device(s) in "
              f"{jax.process_count()} process(es) -> {out}", file=sys.stderr)
    try:
        result = run_training(trainer, out, seeds=seeds, seed=seed,
                              resume=args.resume is not None, progress=not args.no_progress,
                              policy_meta=meta, tensorboard=args.tensorboard, sweep=sweep)
    except CheckpointError as err:
        if recorded is not None and primary:
            (out / "config.json").write_text(recorded)
        raise UserError(str(err)) from None
    except TrainingDiverged as err:
        print(f"lamour train: {err}", file=sys.stderr)
        return EXIT_DIVERGED
    last = [row for row in result.history if row["eval"] == result.evals_done]
    if not primary:
        return 0
    curve = plot_learning_curve(out)
    print(f"compile {result.compile_s:.1f} s; metrics in {out / 'metrics.jsonl'}"
          + (f"; learning curve {curve}" if curve else ""))
    if last and sweep is not None:
        print(f"{env_name}, {last[0]['step']:,} steps, {last[0]['sps']:,.0f} steps/s in all:\n"
              + summary_table(sweep, last))
    elif last:
        returns = np.array([row["return_mean"] for row in last])
        sps = last[0]["sps"]
        print(f"| env | steps | seeds | return (mean ± std over seeds) | steps/s |\n"
              f"|---|---:|---:|---:|---:|\n| {env_name} | {last[0]['step']:,} | {seeds} | "
              f"{returns.mean():.1f} ± {returns.std():.1f} | {sps:,.0f} |")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from lamour_jax import render
    from lamour_jax.recovery.run import evaluate_and_trace, evaluate_policy

    try:
        policy = load(args.run_dir)
    except CheckpointError as err:
        raise UserError(str(err)) from None
    env_name = args.env or policy.meta["env"]
    if env_name != policy.meta["env"]:
        raise UserError(f"the policy in {args.run_dir} was trained on {policy.meta['env']}")
    variant = args.variant or policy.meta["variant"]
    episode_length = policy.meta.get("episode_length", 1000)
    if args.seed_index == "all":
        if args.video is not None:
            raise UserError("--video films one policy: give --seed-index I with it")
        print(_all_policies_table(policy, env_name, variant, args.mode, args.episodes,
                                  args.seed, episode_length))
        return 0
    try:
        act = policy.act_fn(args.seed_index)
    except ValueError as err:
        raise UserError(str(err)) from None
    if policy.meta.get("sweep"):  # a sweep's policy index is a grid point and seed
        print(f"policy {args.seed_index} of the sweep: "
              f"{format_point(policy.meta['sweep'][args.seed_index])}")
    if args.video is None:
        out = evaluate_policy(env_name, variant, args.mode, act, args.episodes, args.seed,
                              episode_length)
    else:  # the video shows the first of the episodes the table counts
        env = make(env_name, variant, args.mode, episode_length=episode_length)
        out, trace = evaluate_and_trace(env, act, args.episodes, args.seed)
    print(f"| env | variant | episodes | return mean | return std | episode length | "
          f"reached a valid state |\n|---|---|---:|---:|---:|---:|---:|\n"
          f"| {env_name} | {variant} | {args.episodes} | {out['return_mean']:.1f} | "
          f"{out['return_std']:.1f} | {out['length_mean']:.0f} | {out['recovery_rate']:.0%} |")
    if args.video is not None:
        path = render.save_episode_gif(env, trace.qpos, args.video, args.video_stride)
        print(f"video: {path} ({trace.describe(args.episodes)})")
    return 0


def _all_policies_table(policy: LoadedPolicy, env_name: str, variant: str, mode: str, episodes: int,
                        seed: int, episode_length: int) -> str:
    """`lamour evaluate --seed-index all`: a row per policy (with its sweep point, if any),
    then the spread over policies, the figure a multi-seed run is reported by."""
    from lamour_jax.recovery.run import evaluate_policies

    results = evaluate_policies(env_name, variant, mode, policy, episodes, seed, episode_length)
    points = policy.meta.get("sweep")
    hp_head, hp_rule = ("hyperparameters | ", "---|") if points else ("", "")
    lines = [f"{env_name} ({variant}), {episodes} episodes per policy, the same starts for each:",
             f"| policy | {hp_head}return mean | return std | episode length | reached a valid "
             f"state |", f"|---:|{hp_rule}---:|---:|---:|---:|"]
    for index, out in enumerate(results):
        hp = f"{format_point(points[index])} | " if points else ""
        lines.append(f"| {index} | {hp}{out['return_mean']:.1f} | {out['return_std']:.1f} | "
                     f"{out['length_mean']:.0f} | {out['recovery_rate']:.0%} |")
    # The spread over seeds; a sweep's per grid point, as its points are not seeds of one.
    groups: dict[str, list[float]] = {}
    for index, out in enumerate(results):
        label = format_point(points[index]) if points else f"the {len(results)} policies"
        groups.setdefault(label, []).append(out["return_mean"])
    lines.append("")
    for label, means in groups.items():
        lines.append(f"return over {label} (mean ± std of {len(means)} policies' means): "
                     f"{np.mean(means):.1f} ± {np.std(means):.1f}")
    return "\n".join(lines)
