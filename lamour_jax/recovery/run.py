"""One recovery run on the host: load the original policy and the reward candidates,
evaluate the original (the "before"), train every (candidate, seed) member in one compiled
program, rank the candidates and keep the best.

Run folder: config.json, rewards/*.py (the candidates used, copied so a resume needs nothing
else), before.json, metrics.jsonl (one row per member and evaluation; member = candidate * seeds +
seed), checkpoints/, policy/ (all members),
best/policy (the best candidate's seeds) and summary.json.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lamour_jax import xla_runtime
from lamour_jax.envs import Env, default_physics, make
from lamour_jax.learner import PPOConfig
from lamour_jax.learner.evaluate import evaluate_episodes, evaluate_policy
from lamour_jax.learner.policy import LoadedPolicy, architecture, check_architecture, load
from lamour_jax.params import recovery_params, recovery_ppo
from lamour_jax.recovery.objectives import (
    LEVEL_STARTS,
    Objective,
    Original,
    program_levels,
    recovered_shares,
)
from lamour_jax.recovery.peak import PeakKeeper, candidate_scores, save_candidate
from lamour_jax.recovery.trainer import recovery_trainer
from lamour_jax.runtime.checkpoint import CheckpointError, saved_periods
from lamour_jax.runtime.lock import holds_run_dir
from lamour_jax.runtime.loop import RunResult, recorded, run_training
from lamour_jax.runtime.run_dir import RunDir, RunRecord
from lamour_jax.runtime.stall import cpu_hang_warning
from lamour_jax.transpile import CandidateSet, candidate_set, transpile

# Episodes of every before/after evaluation (the original, the videos, the demo table).
BEFORE_EPISODES = 32
# Diverse training starts come from a bank of their own, seeded apart from the one every
# evaluation draws from (`make`'s default, seed 0), so the diverse test stays unseen; four
# times its size, so training does not come to know a few hundred fallen poses by heart.
TRAINING_BANK_SEED = 1
TRAINING_BANK_SIZE = 2048
# Below this share of the original's own Normal-env steps consolidation acts on few of the
# task's states: a run says so before it trains. On PushChair a measure that read 0.12 m for
# a hand on the chair, against the program's 0.1, left it 2 % (pushchair_cpu.md); the
# cheetah's narrow test (25-32 %) is a choice that recovers better than a wide one
# (consolidation_coverage_native_cpu.md), so it is a warning, not an error.
COVERAGE_WARNING = 0.5


@dataclass
class RecoverySpec:
    env: str
    method: str
    steps: int
    seeds: int = 1
    seed: int = 0
    num_envs: int | None = None
    mode: str = "paper"
    switch: str = "valid"
    lam: float | None = None
    c: float | None = None
    overrides: list[str] = field(default_factory=list)
    policy_member: int = 0
    physics: str | None = None  # the engine that steps the envs; None: the backend's default
    # None: the env's default (params.RECOVERY); the record holds the value that applied.
    normal_starts: float | None = None  # share of training episodes from Normal-env starts
    consolidate_after: int | None = None  # valid steps after getting up before consolidating
    diverse_starts: float | None = None  # share of OOD training starts from a diverse bank
    shaping: str | None = None  # lamour: how its program is paid (objectives.SHAPINGS)

    def __post_init__(self) -> None:
        if self.physics is None:
            self.physics = default_physics()
        defaults = recovery_params(self.env)
        if self.normal_starts is None:
            self.normal_starts = defaults.normal_starts
        if self.mode != "paper":  # every OOD start is a diverse one already
            if self.diverse_starts:
                raise ValueError("--diverse-starts mixes diverse starts into --mode paper's; "
                                 f"--mode {self.mode} starts every episode from one")
            self.diverse_starts = 0.0
        elif self.diverse_starts is None:
            self.diverse_starts = defaults.diverse_starts
        if self.method != "lamour":  # the hold and the shaping are LaMOuR's (objectives)
            self.consolidate_after = 0
            self.shaping = "reward"
        else:
            if self.consolidate_after is None:
                self.consolidate_after = defaults.consolidate_after
            if self.shaping is None:
                self.shaping = defaults.shaping

    def coefficients(self) -> tuple[float, float]:
        defaults = recovery_params(self.env)
        lam, c = defaults.lam, defaults.c
        return (lam if self.lam is None else self.lam, c if self.c is None else self.c)


def reward_sources(path: Path) -> list[tuple[str, str]]:
    """(name, source) of the candidates at `path`: a .py file, or a `lamour generate` run
    folder (all of candidates/*.py, else reward.py)."""
    path = Path(path)
    if path.is_file():
        return [(path.name, path.read_text())]
    if path.is_dir():
        files = sorted((path / "candidates").glob("*.py")) or \
            ([path / "reward.py"] if (path / "reward.py").is_file() else [])
        if files:
            return [(f.name, f.read_text()) for f in files]
    raise ValueError(f"{path}: expected a .py reward program or a `lamour generate` run folder "
                     "(with candidates/*.py or reward.py)")


def recovery_config(spec: RecoverySpec, policy: LoadedPolicy) -> PPOConfig:
    """The env's retraining settings (`params.recovery_ppo`), the original actor's
    architecture, then the user's --num-envs and --set.

    The architecture is locked; the dropout rate is not part of it (dropout has no weights),
    so PPO retrains with the original's rate unless `--set policy_dropout=0`, and SAC, which
    trains without dropout, starts from 0. SeRO's uncertainty and consolidation read the frozen
    original with its own dropout either way (`objectives.Original`)."""
    config = recovery_ppo(spec.env).replace(**architecture(policy), total_steps=spec.steps)
    if spec.num_envs is not None:
        config = config.replace(num_envs=spec.num_envs)
    learner = config.override(spec.overrides).learner
    dropout = policy.meta["policy_dropout"] if learner == "ppo" else 0.0
    config = config.replace(policy_dropout=dropout).override(spec.overrides)
    return check_architecture(config, policy, "the recovering actor").validate().fit_period()


def evaluate_original(spec: RecoverySpec, policy: LoadedPolicy, episode_length: int
                      ) -> dict[str, Any]:
    act = policy.act_fn(spec.policy_member)
    return {variant: evaluate_policy(spec.env, variant, spec.mode, act, BEFORE_EPISODES,
                                     spec.seed + 1, episode_length, spec.physics)
            for variant in ("ood", "normal")}


def consolidation_coverage(spec: RecoverySpec, policy: LoadedPolicy, candidates: CandidateSet,
                           episode_length: int) -> list[float]:
    """Each candidate's share of the original's own steps from Normal starts (the starts of
    `evaluate_original`) on which its `is_recovered` holds: the states of the task, which
    LaMOuR's consolidation should reach."""
    env = make(spec.env, "normal", episode_length=episode_length, physics=spec.physics)
    act = policy.act_fn(spec.policy_member)

    def shares(key: jax.Array) -> jax.Array:
        out = evaluate_episodes(env, act, key, BEFORE_EPISODES, record=True)
        obs = out["states"]["obs"][:-1]  # the state each action was taken in
        counted = jnp.arange(obs.shape[0])[:, None] < out["length"][None, :]
        return recovered_shares(candidates, obs.reshape(-1, obs.shape[-1]), counted.ravel())

    return jax.device_get(jax.jit(shares)(jax.random.key(spec.seed + 1))).tolist()


def coverage_notes(names: Sequence[str], shares: Sequence[float], c: float) -> list[str]:
    """What a run logs about `consolidation_coverage`: the share per candidate, and a warning
    for each below COVERAGE_WARNING."""
    notes = []
    for name, share in zip(names, shares, strict=True):
        notes.append(f"consolidation: {name}'s is_recovered holds on {share:.0%} of the "
                     "original's own Normal-env steps")
        if share < COVERAGE_WARNING:
            notes.append(
                f"warning: below {COVERAGE_WARNING:.0%}, consolidation (c={c:g}) acts on few of "
                "the task's own states and cannot hold the recovered policy to the task there; "
                f"check that {name}'s is_recovered reads the state as intended "
                "(benchmarks/results/consolidation_coverage_native_cpu.md)")
    return notes


def rank_candidates(history: list[dict[str, Any]], names: Sequence[str], seeds: int
                    ) -> list[dict[str, Any]]:
    """Per candidate, the last evaluation averaged over its seeds, best first: by the env's
    own recovery rate, then the OOD return."""
    last_eval = max(row["eval"] for row in history)
    last = [r for r in history if r["eval"] == last_eval]
    scores = candidate_scores(last, names, seeds)
    rows = []
    for k, name in enumerate(names):
        members = [r for r in last if r["member"] // seeds == k]

        rows.append({
            "candidate": name, "index": k,
            "return_mean": scores[k][1],
            "return_std_over_seeds": float(np.std(recorded(members, "return_mean"))),
            "recovery_rate": scores[k][0],
            "normal_return_mean": float(np.mean(recorded(members, "normal_return_mean"))),
        })
    return sorted(rows, key=lambda r: (-r["recovery_rate"], -r["return_mean"]))


def training_env(spec: RecoverySpec, episode_length: int) -> Env | None:
    """Where the training episodes start when not where the evaluation's do (None): mixed
    with Normal starts, or drawing diverse fallen states from a bank of their own."""
    if spec.mode == "paper" and not spec.normal_starts and not spec.diverse_starts:
        return None
    return make(spec.env, "ood", spec.mode, episode_length=episode_length,
                physics=spec.physics, normal_share=spec.normal_starts,
                diverse_share=spec.diverse_starts, bank_seed=TRAINING_BANK_SEED,
                bank_size=TRAINING_BANK_SIZE)


def level_starts(env: Env, seed: int) -> jax.Array:
    """The observations of LEVEL_STARTS starts of `env` (the evaluation's OOD starts), drawn
    from a key of `seed`: the same on a resume, so a centred program's level stays the run's."""
    # A stream of its own (folded in), apart from the keys the seeds train from.
    keys = jax.random.split(jax.random.fold_in(jax.random.key(seed), LEVEL_STARTS), LEVEL_STARTS)
    return jax.jit(jax.vmap(env.reset))(keys).obs


def ood_levels(env: Env, candidates: CandidateSet, seed: int) -> jax.Array:
    """Each candidate's mean over `level_starts(env, seed)`: what centred shaping takes off."""
    return jax.jit(lambda obs: program_levels(candidates, obs, env.action_size))(
        level_starts(env, seed))


def _resumed_config(run: RunDir, steps: int, log: Any) -> PPOConfig:
    """The PPO config a run was started with (its config.json), with the budget raised to
    `steps`. Not rebuilt from today's defaults: a default changed since the run started (an
    env's evaluation period, say) would make the checkpoints mean other steps, or the rest of
    the run train differently. A raised budget (and a new device count) is written back, so
    that a later resume (and the reports) continue from it."""
    record = run.read("recovery")
    config = record.ppo
    changed = False
    note = xla_runtime.device_change_note(record.get("devices"), jax.device_count())
    if note:
        log(note)
        record.fields["devices"], changed = jax.device_count(), True
    if record["steps"] != steps:
        note = config.budget_change_note(steps)
        if note:
            log(note)
        config = config.replace(total_steps=steps)
        record.fields["steps"], record.ppo = steps, config
        changed = True
    if changed:
        run.write(record)
    return config.validate()


def _member_names(candidates: list[str], seeds: int) -> list[str]:
    """Member m's TensorBoard run: its candidate (when there are several) and its seed."""
    if len(candidates) == 1:
        return [f"seed_{s}" for s in range(seeds)]
    return [f"{Path(name).stem}-seed_{s}" for name in candidates for s in range(seeds)]


@holds_run_dir("out")
def run_recovery(spec: RecoverySpec, policy_dir: Path, sources: list[tuple[str, str]],
                 out: Path, *, resume: bool = False, progress: bool = True,
                 tensorboard: bool = False, log: Any = print) -> dict[str, Any]:
    """Train, rank, keep the best; returns (and writes) the summary. Raises ValueError on a
    policy/env mismatch, CheckpointError on an unreadable policy, TrainingDiverged on NaN,
    RunDirInUse when another process is writing `out`."""
    policy = load(policy_dir)
    if policy.meta["env"] != spec.env:
        raise ValueError(f"the original policy was trained on {policy.meta['env']}, "
                         f"not {spec.env}")
    out = Path(out)
    run = RunDir(out)
    # A resume that cannot restore its checkpoint leaves the record as it found it.
    keep = run.record_kept_on_failure(CheckpointError) if resume else contextlib.nullcontext()
    with keep:
        return _recover(spec, policy_dir, policy, sources, run, resume, progress, tensorboard,
                        log)


def _recover(spec: RecoverySpec, policy_dir: Path, policy: LoadedPolicy,
             sources: list[tuple[str, str]], run: RunDir, resume: bool, progress: bool,
             tensorboard: bool, log: Any) -> dict[str, Any]:
    out = run.path
    config = _resumed_config(run, spec.steps, log) if resume else recovery_config(spec, policy)
    summary_path = out / "summary.json"
    if resume and summary_path.is_file() and saved_periods(out) >= config.num_evals:
        # Finished at this budget: its summary stands, and compiling the program would
        # train nothing (a resume that only wants the videos or the table lands here).
        log(f"{out} has trained all of its {config.num_evals * config.steps_per_eval:,} steps "
            "per seed; nothing to train")
        return json.loads(summary_path.read_text())
    env = make(spec.env, "ood", spec.mode, episode_length=config.episode_length,
               physics=spec.physics)
    hang = cpu_hang_warning(env, config.num_envs, jax.default_backend(), job="recover")
    for note in [hang, *config.notes()]:
        if note:
            log(note)
    lam, c = spec.coefficients()
    out.mkdir(parents=True, exist_ok=True)
    if spec.method != "lamour":
        sources = []
    programs = [transpile(src, env.program_state_size, env.action_size) for _, src in sources]
    names = [name for name, _ in sources] or [spec.method]
    candidates = candidate_set(programs, env.program_state) if programs else None
    levels = None
    if candidates is not None and spec.shaping == "centred":
        levels = ood_levels(env, candidates, spec.seed)
        log("centred shaping: each program's mean over "
            f"{LEVEL_STARTS} OOD starts, taken off its reward: "
            + ", ".join(f"{name} {level:.3g}" for name, level in zip(names, levels.tolist(),
                                                                     strict=True)))
    objective = Objective(spec.method, lam, c, spec.switch, candidates,
                          Original.from_policy(policy, spec.policy_member), spec.seeds,
                          spec.consolidate_after, spec.shaping, config.gamma, levels)
    if not resume:
        (out / "rewards").mkdir(exist_ok=True)
        for name, src in sources:
            (out / "rewards" / name).write_text(src)
        fields = {k: v for k, v in dataclasses.asdict(spec).items() if k != "env"}
        run.write(RunRecord("recovery", spec.env, config, {
            **fields, "lambda": lam, "c": c, "policy": str(Path(policy_dir).absolute()),
            "candidates": names, "reward_sha256": [p.sha256 for p in programs],
            "devices": jax.device_count()}))
    before_path = out / "before.json"
    if before_path.exists():
        before = json.loads(before_path.read_text())
    else:
        log("evaluating the original policy on OOD and Normal starts ...")
        before = evaluate_original(spec, policy, config.episode_length)
        before_path.write_text(json.dumps(before, indent=2))
    # Also where the evaluation came from another method's run (`lamour compare`).
    if candidates is not None and c > 0 and "consolidation_coverage" not in before:
        before["consolidation_coverage"] = dict(zip(names, consolidation_coverage(
            spec, policy, candidates, config.episode_length), strict=True))
        before_path.write_text(json.dumps(before, indent=2))
    coverage = before.get("consolidation_coverage", {})
    for note in coverage_notes(list(coverage), list(coverage.values()), c):
        log(note)

    normal_env = make(spec.env, "normal", episode_length=config.episode_length,
                      physics=spec.physics)
    trainer = recovery_trainer(env, normal_env, config, objective,
                               policy.member(spec.policy_member),
                               training_env(spec, config.episode_length))
    members = len(names) * spec.seeds
    # Member m trains candidate m // seeds with seed m % seeds: every candidate sees the
    # same seeds, so candidates differ only in their reward.
    seed_keys = jax.random.split(jax.random.key(spec.seed), spec.seeds)
    keys = jnp.concatenate([seed_keys] * len(names))
    initial = None if resume else jax.jit(jax.vmap(trainer.init, in_axes=(0, None, 0)))(
        keys, None, jnp.arange(members))
    # The original's architecture, without the records of its own run: its member count
    # ("seeds" in older files; "members" is replaced below), a sweep's points, an export's source.
    original = {k: v for k, v in policy.meta.items()
                if k not in ("seeds", "sweep", "exported_from")}
    meta = {**original, "variant": "ood", "members": members, "recovered_with": spec.method,
            "physics": spec.physics, "episode_length": config.episode_length,
            "candidates": names, "obs_clip": config.obs_clip,
            "policy_dropout": config.policy_dropout}
    log(f"recovering {spec.env} with {spec.method} ({len(names)} candidate(s) x {spec.seeds} "
        f"seed(s), λ={lam:g}, c={c:g}, {config.num_envs} envs on {spec.physics} physics, "
        f"{jax.device_count()} device(s), {config.num_evals * config.steps_per_eval:,} steps) "
        f"-> {out}")
    # The evaluation the run continues from (run_training restores it).
    resumed_from = saved_periods(out) if resume else 0
    peak = PeakKeeper(out, names, spec.seeds, meta, resumed_from)
    result: RunResult = run_training(
        trainer, out, seeds=members, seed=spec.seed, resume=resume, progress=progress,
        policy_meta=meta, initial_state=initial, tensorboard=tensorboard,
        run_names=_member_names(names, spec.seeds), after_eval=peak)
    ranking = rank_candidates(run.history(), names, spec.seeds)
    best = ranking[0]["index"]
    save_candidate(out / "best", result.state, best, spec.seeds, names, meta)
    summary = {"env": spec.env, "method": spec.method, "steps": result.evals_done
               * config.steps_per_eval, "seeds": spec.seeds, "compile_s": result.compile_s,
               "before": before, "candidates": ranking, "best": names[best],
               "peak": peak.record()}
    summary_path.write_text(json.dumps(summary, indent=2))
    return summary
