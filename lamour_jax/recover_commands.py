"""`lamour recover` and `lamour compare`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from lamour_jax.commands import UserError
from lamour_jax.envs import ENV_NAMES
from lamour_jax.learner.checkpoint import CheckpointError
from lamour_jax.learner.run import TrainingDiverged

if TYPE_CHECKING:
    from lamour_jax.recovery import RecoverySpec

EXIT_DIVERGED = 3
DEFAULT_STEPS = 1_000_000


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _spec(args: argparse.Namespace, method: str) -> Any:
    from lamour_jax.recovery import RecoverySpec

    return RecoverySpec(env=args.env, method=method, steps=args.steps or DEFAULT_STEPS,
                        seeds=args.seeds,
                        seed=args.seed, num_envs=args.num_envs, mode=args.mode,
                        switch=args.switch, lam=args.lam, c=args.c, overrides=args.set or [],
                        policy_seed=args.policy_index)


def _recorded_spec(out: Path) -> tuple[Any, dict[str, Any]]:
    """The RecoverySpec a run in `out` was started with, and its whole config.json record."""
    from lamour_jax.recovery import RecoverySpec

    path = out / "config.json"
    if not path.is_file():
        raise UserError(f"{out} is not a recovery run (no config.json)")
    record = json.loads(path.read_text())
    if record.get("kind") != "recovery":
        raise UserError(f"{out} is not a recovery run")
    fields = RecoverySpec.__dataclass_fields__
    return RecoverySpec(**{k: v for k, v in record.items() if k in fields}), record


def _recorded_ppo(record: dict[str, Any]) -> Any:
    from lamour_jax.learner import PPOConfig

    return PPOConfig.from_json(json.dumps(record["ppo"]))


def _budget(out: Path, record: dict[str, Any], steps: int) -> tuple[int, int]:
    """(steps done, steps planned) for the run in `out` asked for `steps` per seed; a budget
    below what it has done is refused."""
    from lamour_jax.learner.checkpoint import resume_budget

    try:
        return resume_budget(out, _recorded_ppo(record), steps)
    except ValueError as err:
        raise UserError(f"{err}, and a comparison compares equal budgets: use --steps of at "
                        "least that, or another --out") from None


def _extended(spec: Any, record: dict[str, Any], out: Path, steps: int | None) -> Any:
    """`spec` with its budget raised to `steps` (a resume that continues a run further)."""
    if steps is None or steps == spec.steps:
        return spec
    done, _ = _budget(out, record, steps)
    _log(f"continuing {out} from {done:,} to {steps:,} steps per seed")
    return dataclasses.replace(spec, steps=steps)


def _check_same_run(out: Path, spec: Any, policy: Path) -> tuple[int, int]:
    """A comparison rerun may raise the budget of a method it started earlier; any other
    difference would put two settings in one table. Returns (steps done, steps planned)."""
    recorded, record = _recorded_spec(out)
    # λ and c as they apply (config.json records c resolved to its per-env default).
    changed = [f"{name} {old:g} -> {new:g}" for name, old, new in
               zip(("λ", "c"), recorded.coefficients(), spec.coefficients(), strict=True)
               if old != new]
    changed += [f"{name} {getattr(recorded, name)!r} -> {getattr(spec, name)!r}"
                for name in recorded.__dataclass_fields__
                if name not in ("steps", "lam", "c")
                and getattr(recorded, name) != getattr(spec, name)]
    if Path(record["policy"]) != Path(policy).absolute():
        changed.append(f"policy {record['policy']} -> {Path(policy).absolute()}")
    if changed:
        raise UserError(f"{out} was started with other settings ({'; '.join(changed)}); "
                        "rerun with the same ones (only --steps may grow) or choose another "
                        "--out")
    return _budget(out, record, spec.steps)


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
        raise UserError(str(err)) from None


def _run(spec: Any, policy: Path, sources: list, out: Path, resume: bool,
         args: argparse.Namespace) -> dict[str, Any]:
    from lamour_jax.learner.run_lock import RunDirInUse
    from lamour_jax.recovery import run_recovery
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
    from lamour_jax.learner.policy import load
    from lamour_jax.learner.sweep import format_point

    try:
        policy = load(path)
        policy.seed(index)
    except (CheckpointError, ValueError) as err:
        raise UserError(f"--policy {path}: {err}") from None
    if policy.meta.get("sweep"):
        _log(f"retraining policy {index} of the sweep in {path}: "
             f"{format_point(policy.meta['sweep'][index])}")
    return policy.meta


def _fresh_out(path: Path) -> Path:
    if (path / "checkpoints").exists() and any((path / "checkpoints").iterdir()):
        raise UserError(f"{path} already holds a run; continue it with --resume {path} or "
                        "choose another --out")
    return path


def before_after_table(summary: dict[str, Any], history: list[dict[str, Any]]) -> str:
    from lamour_jax.recovery.report import best_members, final_row

    o, n = summary["before"]["ood"], summary["before"]["normal"]
    f = final_row(history, best_members(summary))
    pct = lambda v: f"{v:.0%}"  # noqa: E731
    lines = [
        f"| {summary['env']} | recovery rate (OOD starts) | OOD return | "
        "Normal-env return |", "|---|---:|---:|---:|",
        f"| original policy | {pct(o['recovery_rate'])} | {o['return_mean']:.1f} | "
        f"{n['return_mean']:.1f} |",
        f"| after {summary['method']} ({f['step']:,} steps, {summary['seeds']} seed(s)) | "
        f"{pct(f['recovery_rate'])} | {f['return_mean']:.1f} | "
        f"{f['normal_return_mean']:.1f} |"]
    peak = summary.get("peak")
    if peak and peak["step"] != f["step"]:  # an earlier evaluation did better: DIR/peak
        lines.append(f"| its best evaluation ({peak['step']:,} steps, peak/) | "
                     f"{pct(peak['recovery_rate'])} | {peak['return_mean']:.1f} | "
                     f"{peak['normal_return_mean']:.1f} |")
    return "\n".join(lines)


class Film(NamedTuple):
    name: str  # before, after or peak
    path: Path
    shows: str  # which episode it shows, for a person
    stats: dict[str, Any]  # the evaluation of the whole batch the episode belongs to


def write_videos(out: Path, spec: RecoverySpec, policy_dir: Path, after_seed: int = 0,
                 peak_seed: int | None = None) -> list[Film]:
    """before.gif / after.gif (and peak.gif, given the seed of DIR/peak to film): the original,
    the retrained policy (seed `after_seed` of DIR/best) and the best evaluation's, each in the
    first episode of the batch before.json was evaluated on, so all start from the same OOD
    state. Each film carries its batch's statistics, so a caller need not evaluate again."""
    from lamour_jax import render
    from lamour_jax.envs import make
    from lamour_jax.learner.policy import load
    from lamour_jax.recovery.run import BEFORE_EPISODES, evaluate_and_trace

    best = load(out / "best")
    episode_length = best.meta.get("episode_length", 1000)
    env = make(spec.env, "ood", spec.mode, episode_length=episode_length)
    films = [("before", load(policy_dir), spec.policy_seed), ("after", best, after_seed)]
    if peak_seed is not None:
        films.append(("peak", load(out / "peak"), peak_seed))
    videos = []
    for name, policy, index in films:
        stats, trace = evaluate_and_trace(env, policy.act_fn(index), BEFORE_EPISODES,
                                          spec.seed + 1)
        path = render.save_episode_gif(env, trace.qpos, out / f"{name}.gif", stride=4)
        videos.append(Film(name, path, trace.describe(BEFORE_EPISODES), stats))
    return videos


def cmd_recover(args: argparse.Namespace) -> int:
    from lamour_jax.recovery import read_history
    from lamour_jax.recovery.report import best_seed, peak_seed

    if args.resume is not None:
        out = args.resume
        spec, record = _recorded_spec(out)
        if spec.env != args.env:
            raise UserError(f"{out} recovers {spec.env}, not {args.env}")
        spec = _extended(spec, record, out, args.steps)
        policy = Path(record["policy"])
        sources = [(name, (out / "rewards" / name).read_text())
                   for name in record["candidates"] if (out / "rewards" / name).is_file()]
    else:
        spec = _spec(args, args.method)
        policy = _policy_dir(args, [args.method])
        _check_policy(policy, spec.policy_seed)
        sources = _sources(args, args.method)
        out = _fresh_out(args.out or Path("runs") / (
            f"recover-{args.env}-{args.method}-{time.strftime('%Y%m%d-%H%M%S')}"))
    try:
        summary = _run(spec, policy, sources, out, args.resume is not None, args)
    except TrainingDiverged as err:
        print(f"lamour recover: {err}", file=sys.stderr)
        return EXIT_DIVERGED
    print(before_after_table(summary, read_history(out)))
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
        history = read_history(out)
        for film in write_videos(out, spec, policy, best_seed(summary, history),
                                 peak_seed(summary, history) if peak_is_earlier else None):
            print(f"video: {film.path} ({film.shows})")
    also = (f"; its best evaluation, at {peak['step']:,} steps: {out / 'peak'}"
            if peak_is_earlier else "")
    print(f"run folder: {out} (best policy: {out / 'best'}{also})")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from lamour_jax.recovery import METHODS, read_history
    from lamour_jax.recovery.report import markdown_table, paper_reference, per_seed_table, plot

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UserError(f"unknown method(s) {', '.join(unknown)}; valid: {', '.join(METHODS)}")
    policy = _policy_dir(args, methods)
    meta = _check_policy(policy, args.policy_index)
    if "sero" in methods and meta["policy_dropout"] <= 0:
        raise UserError("sero needs an original policy trained with dropout (`lamour train "
                        f"{args.env} --set policy_dropout=0.1`); {policy} has none")
    out: Path = args.out or Path("runs") / f"compare-{args.env}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, tuple[dict, list]] = {}
    # Every method starts from the same original on the same OOD and Normal starts: its
    # "before" evaluation is made once and handed to the later methods' run folders.
    before_file: Path | None = None
    for method in methods:
        run_dir = out / method
        spec = _spec(args, method)
        resume = (run_dir / "checkpoints").exists() and any((run_dir / "checkpoints").iterdir())
        # Started earlier: only the budget may grow.
        done, planned = _check_same_run(run_dir, spec, policy) if resume else (0, -1)
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
        runs[method] = (summary, read_history(run_dir))
        if before_file is None and (run_dir / "before.json").is_file():
            before_file = run_dir / "before.json"
    if not runs:
        raise UserError("no method finished")
    before = next(iter(runs.values()))[0]["before"]
    table = markdown_table(args.env, runs, before)
    paper = paper_reference(args.env, list(runs))
    if paper:
        table += "\n\n" + paper
    figure = plot(args.env, runs, before, out / "compare.png")
    command = "lamour compare " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    (out / "compare.md").write_text(
        f"# {args.env}: recovery methods at equal budgets\n\nCommand: `{command}`\n\n"
        f"{table}\n\nPer seed:\n\n{per_seed_table(args.env, runs)}\n\n![curves](compare.png)\n")
    print(table)
    print(f"\ntable: {out / 'compare.md'}\nplot:  {figure}")
    return 0
