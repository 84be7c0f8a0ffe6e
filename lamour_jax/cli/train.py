"""Plain training: `train` (fresh, resumed, from an initial policy, swept, distributed)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamour_jax.cli import args as a
from lamour_jax.cli.errors import EXIT_DIVERGED, UserError
from lamour_jax.envs import VARIANTS

if TYPE_CHECKING:
    from lamour_jax.learner import PPOConfig
    from lamour_jax.learner.policy import LoadedPolicy
    from lamour_jax.learner.sweep import Sweep
    from lamour_jax.runtime.loop import RunResult
    from lamour_jax.runtime.run_dir import RunDir, RunRecord


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a policy with PPO (checkpointed, resumable)")
    a.any_env(p)
    p.add_argument("--variant", choices=VARIANTS, default="normal",
                   help="train on the Normal env (default) or the OOD env")
    p.add_argument("--steps", type=a.positive, help="total env steps (default: per-env config)")
    p.add_argument("--num-envs", type=a.positive, help="parallel envs (default: per-env config)")
    p.add_argument("--seeds", type=a.positive, default=1, help="seeds trained in one program")
    p.add_argument("--seed", type=int, default=0, help="base random seed")
    p.add_argument("--out", type=Path, help="run directory (default: runs/ENV-TIMESTAMP)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config field, e.g. --set learning_rate=1e-3 "
                        "--set policy_hidden=128,128 (repeatable)")
    p.add_argument("--init-policy", type=Path, metavar="DIR",
                   help="start every seed's actor from the policy in DIR (a run or a shipped "
                        "original: its architecture and observation statistics) with a fresh "
                        "critic, which learns alone for its first critic_warmup_steps (default "
                        "51,200 here); e.g. to train an original further")
    p.add_argument("--init-policy-member", action=a.Renamed, old="--init-policy-index",
                   type=a.non_negative, default=0, metavar="I",
                   help="which policy of a multi-seed or sweep DIR (default 0)")
    p.add_argument("--sweep", action="append", metavar="KEY=V1,V2,...",
                   help="train every value of a scalar hyperparameter side by side in one "
                        "program, --seeds seeds each, e.g. --sweep learning_rate=3e-4,1e-3 "
                        "(repeatable: the grid of all combinations)")
    p.add_argument("--resume", type=Path, metavar="DIR",
                   help="continue the run in DIR exactly from its latest checkpoint")
    a.physics(p, f"{a.DEFAULT_PHYSICS_HELP}; a --resume keeps the run's")
    a.no_progress(p)
    a.tensorboard(p)
    a.cpu_devices_option(p)
    multi = p.add_argument_group(
        "several processes/hosts (jax.distributed): every process runs the same command")
    multi.add_argument("--distributed", action="store_true",
                       help="join a multi-process run; alone, JAX detects the cluster "
                            "(SLURM, Open MPI, Cloud TPU)")
    multi.add_argument("--coordinator", metavar="HOST:PORT",
                       help="process 0's address (implies --distributed)")
    multi.add_argument("--num-processes", type=a.positive, metavar="N")
    multi.add_argument("--process-id", type=a.non_negative, metavar="I")
    p.set_defaults(handler=cmd_train)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parse_sweep(args: argparse.Namespace, seeds: int, config: PPOConfig) -> Sweep | None:
    from lamour_jax.learner.sweep import Sweep

    if not args.sweep:
        return None
    sweep = Sweep.parse(args.sweep, seeds, config)
    both = sorted(set(sweep.values) & {item.partition("=")[0] for item in args.set or []})
    if both:
        raise ValueError(f"{', '.join(both)}: given to both --set and --sweep; keep one")
    return sweep


def _init_policy(args: argparse.Namespace) -> LoadedPolicy:
    """--init-policy DIR, once its policy number --init-policy-member is known to load and to
    fit ENV."""
    from lamour_jax.learner.policy import load
    from lamour_jax.runtime.checkpoint import CheckpointError

    try:
        policy = load(args.init_policy)
        policy.member(args.init_policy_member)
    except (CheckpointError, ValueError) as err:
        raise UserError(f"--init-policy {args.init_policy}: {err}") from None
    if policy.meta["env"] != args.env:
        raise UserError(f"--init-policy {args.init_policy} was trained on "
                        f"{policy.meta['env']}, not {args.env}")
    return policy


def _join_processes(args: argparse.Namespace) -> None:
    """`--distributed` / `--coordinator ...`: become one process of a multi-process run."""
    from lamour_jax.runtime import distributed

    explicit = (args.coordinator, args.num_processes, args.process_id)
    if not args.distributed and all(v is None for v in explicit):
        return
    try:
        distributed.initialize(*explicit)
    except ValueError as err:
        raise UserError(str(err)) from None


def _resumed(args: argparse.Namespace, run: RunDir, primary: bool) -> RunRecord | None:
    """The record of the run `--resume` continues, its budget raised to --steps; None when
    it has nothing left to train."""
    import jax

    from lamour_jax import xla_runtime
    from lamour_jax.runtime.checkpoint import resume_budget

    try:
        record = run.read("train")
    except ValueError as err:
        raise UserError(str(err)) from None
    config = record.ppo
    if args.env != record.env:
        raise UserError(f"{run} trains {record.env}, not {args.env}")
    if args.sweep:
        raise UserError(f"--sweep cannot change on --resume: {run} goes on with the sweep "
                        "it started with (its config.json)")
    if args.init_policy is not None:
        raise UserError(f"--init-policy starts a run; {run} continues from its checkpoint")
    recorded = a.recorded_physics(record)
    a.keep_physics(run, recorded, args.physics)
    record.fields["physics"] = recorded
    try:
        done, planned = resume_budget(run.path, config, args.steps or config.total_steps)
    except ValueError as err:
        raise UserError(f"{err}: give --steps of more than that to train it further") from None
    if done and done == planned:
        # Nothing left: say so rather than compile a program that would not run.
        if primary:
            _log(f"{run} has trained all of its {done:,} steps per seed; nothing to do "
                 "(--steps N with N above that trains it further)")
        return None
    note = xla_runtime.device_change_note(record.get("devices"), jax.device_count())
    if note and primary:
        _log(note)
    if args.steps is not None:
        note = config.budget_change_note(args.steps)
        if note and primary:
            _log(note)
        record.ppo = config.replace(total_steps=args.steps)
    record.fields["devices"] = jax.device_count()
    return record


def _fresh(args: argparse.Namespace) -> tuple[RunRecord, LoadedPolicy | None]:
    """The record of a new run from the flags, and the policy its actors start from."""
    import jax

    from lamour_jax.learner.policy import architecture, check_architecture
    from lamour_jax.params import FRESH_CRITIC_WARMUP_STEPS, train_config
    from lamour_jax.runtime.run_dir import RunRecord

    init = _init_policy(args) if args.init_policy is not None else None
    try:
        config = train_config(args.env)
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
        config = config.validate().fit_period()
        sweep = _parse_sweep(args, args.seeds, config)
    except ValueError as err:
        raise UserError(str(err)) from None
    fields: dict[str, Any] = {"variant": args.variant, "seeds": args.seeds, "seed": args.seed,
                              "physics": a.chosen_physics(args),
                              "devices": jax.device_count()}
    if sweep is not None:  # seeds is then per grid point
        fields["sweep"] = sweep.to_record()
    if init is not None:  # where the actors started (a resume does not need it)
        fields["init_policy"] = {"path": str(Path(args.init_policy).absolute()),
                                 "index": args.init_policy_member}
    return RunRecord("train", args.env, config, fields), init


def cmd_train(args: argparse.Namespace) -> int:
    from lamour_jax.runtime import distributed
    from lamour_jax.runtime.lock import RunDirInUse
    from lamour_jax.runtime.run_dir import RunDir

    _join_processes(args)
    primary = distributed.is_primary()
    if args.resume is not None:
        run = RunDir(args.resume)
        record = _resumed(args, run, primary)
        if record is None:
            return 0
        init = None
    else:
        record, init = _fresh(args)
        run = RunDir(args.out or Path("runs") / f"{args.env}-{time.strftime('%Y%m%d-%H%M%S')}")
    # Held from here on, so that a second command on the same folder can neither start over
    # this run's files nor pass the check below while this one is writing its first checkpoint.
    try:
        with run.hold():
            if args.resume is None:
                try:
                    run.require_fresh()
                except ValueError as err:
                    raise UserError(str(err)) from None
            return _train(args, run, record, init)
    except RunDirInUse as err:
        raise UserError(str(err)) from None


def _train(args: argparse.Namespace, run: RunDir, record: RunRecord,
           init: LoadedPolicy | None) -> int:
    """Everything `lamour train` does once its run folder is settled and held; `init`: the
    policy a fresh run starts its actors from (a resume restores them instead)."""
    import contextlib

    import numpy as np

    from lamour_jax.learner.sweep import Sweep, summary_table
    from lamour_jax.runtime import distributed
    from lamour_jax.runtime.checkpoint import CheckpointError
    from lamour_jax.runtime.curves import plot_learning_curve
    from lamour_jax.runtime.loop import TrainingDiverged

    primary = distributed.is_primary()
    env_name, seeds = record.env, record["seeds"]
    sweep = Sweep.from_record(record["sweep"], seeds) if record.get("sweep") else None
    # A resume that cannot restore its checkpoint leaves the record as it found it.
    keep = (run.record_kept_on_failure(CheckpointError) if args.resume is not None and primary
            else contextlib.nullcontext())
    try:
        with keep:
            if primary:
                run.write(record)
            result = _run(args, run, record, init, sweep)
    except CheckpointError as err:
        raise UserError(str(err)) from None
    except TrainingDiverged as err:
        print(f"lamour train: {err}", file=sys.stderr)
        return EXIT_DIVERGED
    last = [row for row in result.history if row["eval"] == result.evals_done]
    if not primary:
        return 0
    curve = plot_learning_curve(run.path)
    print(f"compile {result.compile_s:.1f} s; metrics in {run.metrics}"
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


def _run(args: argparse.Namespace, run: RunDir, record: RunRecord, init: LoadedPolicy | None,
         sweep: Sweep | None) -> RunResult:
    """Build the env and trainer the record describes and train them."""
    import jax

    from lamour_jax.envs import make
    from lamour_jax.learner import make_train
    from lamour_jax.runtime import distributed
    from lamour_jax.runtime.loop import run_training
    from lamour_jax.runtime.stall import cpu_hang_warning

    primary = distributed.is_primary()
    config, env_name, variant, seeds = record.ppo, record.env, record["variant"], record["seeds"]
    env = make(env_name, variant, episode_length=config.episode_length,
               physics=record["physics"])
    hang = cpu_hang_warning(env, config.num_envs, jax.default_backend())
    for note in [hang, *config.notes()]:
        if note and primary:
            _log(note)
    try:
        trainer = make_train(env, config, init_actor=None if init is None
                             else init.member(args.init_policy_member))
    except ValueError as err:
        raise UserError(str(err)) from None
    members = sweep.size if sweep is not None else seeds
    meta = {"env": env_name, "variant": variant, "members": members,
            "observation_size": env.observation_size, "action_size": env.action_size,
            "policy_hidden": list(config.policy_hidden), "activation": config.activation,
            "policy_dropout": config.policy_dropout,
            "normalize_observations": config.normalize_observations,
            "obs_clip": config.obs_clip,
            "obs_std_floor": config.obs_std_floor,
            "episode_length": config.episode_length, "physics": record["physics"]}
    if sweep is not None:  # what each policy index (`evaluate --member`) trained with
        meta["sweep"] = [sweep.member(m) for m in range(members)]
    grid = "" if sweep is None else (f" x {len(sweep.points)} grid points "
                                     f"({', '.join(sweep.values)})")
    if primary:
        _log(f"training {env_name} ({variant}) for "
             f"{config.num_evals * config.steps_per_eval:,} steps x {seeds} seed(s){grid}, "
             f"{config.num_envs} envs on {record['physics']} physics, {jax.device_count()} "
             f"device(s) in {jax.process_count()} process(es) -> {run}")
    return run_training(trainer, run.path, seeds=seeds, seed=record["seed"],
                        resume=args.resume is not None, progress=not args.no_progress,
                        policy_meta=meta, tensorboard=args.tensorboard, sweep=sweep)
