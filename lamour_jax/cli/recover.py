"""Recovery retraining: `recover` and `compare`."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamour_jax.cli import args as a
from lamour_jax.cli.errors import EXIT_DIVERGED, UserError
from lamour_jax.envs import ENV_NAMES
from lamour_jax.params import SHAPINGS, SWITCHES, recovery_params

if TYPE_CHECKING:
    from lamour_jax.recovery import RecoverySpec
    from lamour_jax.runtime.run_dir import RunDir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recover", help="retrain an original policy to recover from OOD states "
                                       "(lamour, or a baseline: zero, env, sero)")
    _recovery_args(p)
    p.add_argument("--method", choices=("lamour", "zero", "env", "sero"), default="lamour")
    p.add_argument("--out", type=Path, help="run folder (default: runs/recover-ENV-METHOD-TIME)")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR")
    p.add_argument("--video", action="store_true",
                   help="write before.gif and after.gif (and peak.gif when the best evaluation "
                        "was not the last) from the same OOD start")
    p.set_defaults(handler=cmd_recover)

    p = sub.add_parser("compare", help="recovery methods at equal budgets: table + plot")
    _recovery_args(p)
    p.add_argument("--methods", default="lamour,zero,env",
                   help="comma-separated (default lamour,zero,env; add sero with a dropout "
                        "original)")
    p.add_argument("--out", type=Path, help="folder (default: runs/compare-ENV-TIME); a "
                                            "rerun reuses finished methods")
    p.set_defaults(handler=cmd_compare)


def _recovery_args(p: argparse.ArgumentParser) -> None:
    a.any_env(p)
    p.add_argument("--policy", type=Path, metavar="DIR",
                   help="the original policy: a `lamour train` run directory (default: "
                        "the one shipped for ENV, if any)")
    p.add_argument("--policy-member", action=a.Renamed, old="--policy-index",
                   type=a.non_negative, default=0, metavar="I",
                   help="which of the --policy run's policies to retrain when it has "
                        "several (its seeds, or a sweep's members: the index `lamour "
                        "train` ranks them by); default 0")
    p.add_argument("--reward", type=Path, metavar="FILE|RUNDIR",
                   help="reward program(s) for lamour: a .py file or a `lamour generate` "
                        "folder (all its candidates train together). Default: the env's "
                        "offline reference program")
    p.add_argument("--steps", type=a.positive,
                   help="env steps per seed (default: per env, 1,000,000); with --resume, or "
                        "a compare rerun, a run that has fewer continues to this many")
    p.add_argument("--num-envs", type=a.positive, help="parallel envs (default: per env)")
    p.add_argument("--seeds", type=a.positive, default=1, help="seeds, one program")
    p.add_argument("--seed", type=int, default=0, help="base random seed")
    p.add_argument("--switch", choices=SWITCHES, default="valid",
                   help="when the recovery reward applies: while the env's reward is 0 "
                        "(its validity test; the released code) or while is_recovered(s') "
                        "is 0 (the paper's reading). Default: valid")
    p.add_argument("--shaping", choices=SHAPINGS,
                   help="how lamour pays its program's output R while the agent is down: "
                        "reward, λ·R(s',a) (the paper's); centred, λ·(R(s',a) − R̄) with R̄ "
                        "the program's mean over the OOD starts (its shape without its "
                        "level); potential, λ·(γ·R(s',a) − R(s,a)) (default: per env; the "
                        "baselines ignore it)")
    p.add_argument("--lam", type=float, metavar="λ",
                   help="recovery-reward weight (default: the paper's per-env value)")
    p.add_argument("--c", type=float, help="consolidation weight (default: per env)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a PPO config field (repeatable)")
    p.add_argument("--normal-starts", type=a.share, metavar="P",
                   help="share of training episodes started from the Normal env's starts "
                        "instead of OOD ones (default: per env; 0 is the paper's; evaluation "
                        "always starts from OOD states)")
    p.add_argument("--consolidate-after", type=a.non_negative, metavar="K",
                   help="lamour's consolidation acts only on states that have stayed valid "
                        "K steps since getting up, leaving those steps to the reward; an "
                        "episode that starts valid is not held back (default: per env; 0, "
                        "from the first valid step, is the paper's; the baselines ignore it)")
    p.add_argument("--diverse-starts", type=a.share_inclusive, metavar="P",
                   help="share of OOD training episodes started from diverse fallen states "
                        "(a bank of its own, apart from the one the diverse evaluation "
                        "draws from) instead of the paper's pose (default: per env; 0 is "
                        "the paper's; --mode paper only)")
    a.mode(p)
    a.physics(p, f"{a.DEFAULT_PHYSICS_HELP}; a --resume or rerun keeps the run's")
    a.no_progress(p)
    a.tensorboard(p)
    a.cpu_devices_option(p)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _steps(args: argparse.Namespace) -> int:
    return args.steps or recovery_params(args.env).steps


def _spec(args: argparse.Namespace, method: str) -> RecoverySpec:
    from lamour_jax.recovery import RecoverySpec

    try:
        return RecoverySpec(env=args.env, method=method, steps=_steps(args),
                            seeds=args.seeds, seed=args.seed, num_envs=args.num_envs,
                            mode=args.mode, switch=args.switch, lam=args.lam, c=args.c,
                            overrides=args.set or [],
                            policy_member=args.policy_member,
                            physics=a.chosen_physics(args), normal_starts=args.normal_starts,
                            consolidate_after=args.consolidate_after,
                            diverse_starts=args.diverse_starts, shaping=args.shaping)
    except ValueError as err:
        raise UserError(str(err)) from None


def _sources(args: argparse.Namespace, method: str) -> list[tuple[str, str]]:
    from lamour_jax.recovery import reward_sources
    from lamour_jax.rewards import reference_source

    if method != "lamour":
        return []
    if args.reward is None:
        if args.env not in ENV_NAMES:
            raise UserError(f"{args.env} has no reference reward program: pass --reward FILE")
        _log(f"no --reward given: using the offline reference program for {args.env} "
             "(rewards/reference/)")
        return [(f"reference-{args.env}.py", reference_source(args.env))]
    try:
        return reward_sources(args.reward)
    except ValueError as err:
        raise UserError(f"--reward {err}") from None


def _run(spec: RecoverySpec, policy: Path, sources: list, out: Path, resume: bool,
         args: argparse.Namespace) -> dict[str, Any]:
    from lamour_jax.recovery import run_recovery
    from lamour_jax.runtime.checkpoint import CheckpointError
    from lamour_jax.runtime.lock import RunDirInUse
    from lamour_jax.transpile import RewardCodeError

    try:
        return run_recovery(spec, policy, sources, out, resume=resume,
                            progress=not args.no_progress, tensorboard=args.tensorboard,
                            log=_log)
    except RewardCodeError as err:
        raise UserError(f"a reward candidate was rejected: {err}") from None
    except (ValueError, CheckpointError, RunDirInUse) as err:
        raise UserError(str(err)) from None


def _policy_dir(args: argparse.Namespace, methods: list[str]) -> Path:
    """--policy, or the shipped original; its SeRO-ready (dropout) variant when sero is among
    the methods, so that every method of a comparison starts from the same policy."""
    from lamour_jax.policies import shipped_policy

    dropout = "sero" in methods
    policy = args.policy or shipped_policy(args.env, dropout=dropout)
    if policy is None:
        kind = "SeRO-ready (dropout) " if dropout else ""
        raise UserError(f"--policy DIR is required: no {kind}original policy for {args.env} "
                        "ships with lamour-jax (train one with `lamour train "
                        f"{args.env}{' --set policy_dropout=0.1' if dropout else ''}`)")
    if args.policy is None:
        _log(f"using the shipped original policy {policy}")
    return policy


def _check_policy(path: Path, index: int) -> dict[str, Any]:
    """The policy run's metadata, once its policy number `index` is known to load."""
    from lamour_jax.learner.policy import load, sweep_points
    from lamour_jax.learner.sweep import format_point
    from lamour_jax.runtime.checkpoint import CheckpointError

    try:
        policy = load(path)
        policy.member(index)
    except (CheckpointError, ValueError) as err:
        raise UserError(f"--policy {path}: {err}") from None
    points = sweep_points(policy.meta)
    source = policy.meta.get("exported_from")
    if points and source:  # one policy `lamour export` took out of a sweep
        _log(f"retraining {path}, exported from policy {source['member']} of the sweep in "
             f"{source['run']}: {format_point(points[index])}")
    elif points:
        _log(f"retraining policy {index} of the sweep in {path}: "
             f"{format_point(points[index])}")
    return policy.meta


def _resumed(args: argparse.Namespace) -> tuple[RecoverySpec, Path, list[tuple[str, str]]]:
    """What `--resume DIR` continues: its spec (budget raised to --steps), its original policy
    and the reward candidates it copied."""
    from lamour_jax.recovery.resume import extended, recorded_run
    from lamour_jax.runtime.run_dir import RunDir

    run = RunDir(args.resume)
    try:
        spec, record = recorded_run(run)
        if spec.env != args.env:
            raise UserError(f"{run} recovers {spec.env}, not {args.env}")
        a.keep_physics(run, spec.physics, args.physics)
        spec = extended(spec, record, run, args.steps, _log)
    except ValueError as err:
        raise UserError(str(err)) from None
    rewards = run.path / "rewards"
    sources = [(name, (rewards / name).read_text())
               for name in record["candidates"] if (rewards / name).is_file()]
    return spec, Path(record["policy"]), sources


def cmd_recover(args: argparse.Namespace) -> int:
    from lamour_jax.recovery.report import before_after_table, best_member, peak_member
    from lamour_jax.recovery.videos import write_videos
    from lamour_jax.runtime.run_dir import RunDir

    if args.resume is not None:
        out = args.resume
        spec, policy, sources = _resumed(args)
    else:
        spec = _spec(args, args.method)
        policy = _policy_dir(args, [args.method])
        _check_policy(policy, spec.policy_member)
        sources = _sources(args, args.method)
        out = args.out or Path("runs") / (
            f"recover-{args.env}-{args.method}-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            RunDir(out).require_fresh()
        except ValueError as err:
            raise UserError(str(err)) from None
    from lamour_jax.runtime.loop import TrainingDiverged

    try:
        summary = _run(spec, policy, sources, out, args.resume is not None, args)
    except TrainingDiverged as err:
        print(f"lamour recover: {err}", file=sys.stderr)
        return EXIT_DIVERGED
    history = RunDir(out).history()
    print(before_after_table(summary, history))
    if len(summary["candidates"]) > 1:
        print("\n| candidate | recovery rate | OOD return | Normal-env return |\n"
              "|---|---:|---:|---:|")
        for c in summary["candidates"]:
            print(f"| {c['candidate']}{' (best)' if c['candidate'] == summary['best'] else ''}"
                  f" | {c['recovery_rate']:.0%} | {c['return_mean']:.1f} | "
                  f"{c['normal_return_mean']:.1f} |")
    peak = summary.get("peak")
    peak_is_earlier = bool(peak) and peak["step"] != summary["steps"]
    if args.video:
        for film in write_videos(out, spec, policy, best_member(summary, history),
                                 peak_member(summary, history) if peak_is_earlier else None):
            print(f"video: {film.path} ({film.shows})")
    also = (f"; its best evaluation, at {peak['step']:,} steps: {out / 'peak'}"
            if peak_is_earlier else "")
    print(f"run folder: {out} (best policy: {out / 'best'}{also})")
    return 0


def _earlier_comparison(run: RunDir, env: str) -> dict[str, Any] | None:
    """The record of the comparison already in `run`'s folder, if it holds one of `env`."""
    if not run.has_record():
        return None
    try:
        record = run.read("compare")
    except ValueError as err:  # NotARun included: a training or recovery run's folder
        raise UserError(f"--out {err}; choose another --out") from None
    if record.env != env:
        raise UserError(f"{run} compares {record.env}, not {env}: choose another --out")
    return record.fields


def _register_methods(args: argparse.Namespace, out: Path, methods: list[str]) -> Path:
    """Adds `methods` to the comparison's record in `out` (written if new) and returns the
    original they all start from. Methods of one comparison may run as separate processes
    started together: each adds itself in turn, so none is left out of the record."""
    from lamour_jax.runtime.lock import record_update
    from lamour_jax.runtime.run_dir import RunDir, RunRecord

    with record_update(out):
        earlier = _earlier_comparison(RunDir(out), args.env)
        if args.policy is None and earlier is not None and earlier.get("policy"):
            # A rerun adding or continuing methods starts them from the comparison's
            # original, not from whichever shipped original this subset of methods would pick.
            policy = Path(earlier["policy"])
            _log(f"using the comparison's original policy {policy}")
        else:
            policy = _policy_dir(args, methods)
        meta = _check_policy(policy, args.policy_member)
        if "sero" in methods and meta["policy_dropout"] <= 0:
            raise UserError("sero needs an original policy trained with dropout (`lamour "
                            f"train {args.env} --set policy_dropout=0.1`); {policy} has none")
        known = [m for m in (earlier or {}).get("methods", []) if m not in methods]
        RunDir(out).write(RunRecord("compare", args.env, None, {
            "methods": known + methods, "steps": _steps(args), "seeds": args.seeds,
            "policy": str(Path(policy).absolute())}))
    return policy


def cmd_compare(args: argparse.Namespace) -> int:
    from lamour_jax.recovery import METHODS
    from lamour_jax.recovery.report import markdown_table, paper_reference, per_seed_table, plot
    from lamour_jax.recovery.resume import check_same_run
    from lamour_jax.runtime.loop import TrainingDiverged
    from lamour_jax.runtime.run_dir import RunDir

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UserError(f"unknown method(s) {', '.join(unknown)}; valid: {', '.join(METHODS)}")
    out: Path = args.out or Path("runs") / f"compare-{args.env}-{time.strftime('%Y%m%d-%H%M%S')}"
    policy = _register_methods(args, out, methods)
    runs: dict[str, tuple[dict, list]] = {}
    # Every method starts from the same original on the same OOD and Normal starts: its
    # "before" evaluation is made once and handed to the later methods' run folders.
    before_file: Path | None = None
    for method in methods:
        run_dir = out / method
        spec = _spec(args, method)
        resume = RunDir(run_dir).has_checkpoints()
        try:  # started earlier: only the budget may grow
            done, planned = check_same_run(RunDir(run_dir), spec, policy) if resume else (0, -1)
        except ValueError as err:
            raise UserError(str(err)) from None
        if (run_dir / "summary.json").is_file() and done == planned:
            _log(f"{method}: reusing the finished run in {run_dir}")
            summary = json.loads((run_dir / "summary.json").read_text())
        else:
            if before_file is not None and not (run_dir / "before.json").exists():
                run_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(before_file, run_dir / "before.json")
            if resume:
                _log(f"continuing {run_dir} from {done:,} to {planned:,} steps per seed")
            try:
                summary = _run(spec, policy, _sources(args, method), run_dir, resume, args)
            except TrainingDiverged as err:
                _log(f"{method}: {err}")
                continue
        runs[method] = (summary, RunDir(run_dir).history())
        if before_file is None and (run_dir / "before.json").is_file():
            before_file = run_dir / "before.json"
    if not runs:
        raise UserError("no method finished")
    final, final_seeds = _final_evaluation(args, out, policy, runs)
    before = next(iter(runs.values()))[0]["before"]
    table = markdown_table(args.env, runs, before)
    paper = paper_reference(args.env, list(runs))
    if paper:
        final += "\n\n" + paper
    figure = plot(args.env, runs, before, out / "compare.png")
    command = "lamour compare " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    (out / "compare.md").write_text(
        f"# {args.env}: recovery methods at equal budgets\n\nCommand: `{command}`\n\n"
        f"## Final policies on paper, diverse and Normal starts\n\n{final}\n\n"
        f"Per seed:\n\n{final_seeds}\n\n"
        f"## During training (each run's last evaluation, {_eval_envs(out, runs)} episodes per "
        f"seed)\n\n{table}\n\nPer seed:\n\n{per_seed_table(args.env, runs)}\n\n"
        "![curves](compare.png)\n")
    print(final)
    print(f"\ntable: {out / 'compare.md'}\nplot:  {figure}")
    return 0


def _eval_envs(out: Path, methods: Iterable[str]) -> str:
    from lamour_jax.runtime.run_dir import RunDir

    counts = sorted({RunDir(out / m).read("recovery").ppo.eval_envs for m in methods})
    return "/".join(str(c) for c in counts)


def _final_evaluation(args: argparse.Namespace, out: Path, policy: Path,
                      runs: dict[str, tuple[dict, list]]) -> tuple[str, str]:
    """The final-policies table and its per-seed rows (`recovery.final_eval`)."""
    from lamour_jax.recovery.final_eval import (
        FINAL_EPISODES,
        evaluate_final,
        evaluate_original_final,
        final_per_seed,
        final_table,
    )
    from lamour_jax.runtime.run_dir import RunDir

    finals = {}
    for method, (summary, _) in runs.items():
        record = RunDir(out / method).read("recovery")
        _log(f"{method}: final policies on paper, diverse and Normal starts "
             f"({FINAL_EPISODES} episodes x {summary['seeds']} seed(s) each) ...")
        finals[method] = evaluate_final(out / method, args.env, summary["steps"], args.seed,
                                        record.ppo.episode_length, a.recorded_physics(record))
    record = RunDir(out / next(iter(runs))).read("recovery")
    original = evaluate_original_final(out, policy, args.policy_member, args.env, args.seed,
                                       record.ppo.episode_length, a.recorded_physics(record))
    return final_table(args.env, finals, original), final_per_seed(args.env, finals)
