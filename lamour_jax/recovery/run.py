"""One recovery run on the host: load the original policy and the reward candidates,
evaluate the original (the "before"), train every (candidate, seed) member in one compiled
program, rank the candidates and keep the best.

Run folder: config.json, rewards/*.py (the candidates used, copied so a resume needs nothing
else), before.json, metrics.jsonl (one row per member and evaluation; its `seed` column is
the member index, candidate * seeds + seed), checkpoints/, policy/ (all members),
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
from lamour_jax.envs import Env, make
from lamour_jax.learner import PPOConfig, default_config
from lamour_jax.learner.config import FRESH_CRITIC_WARMUP_STEPS
from lamour_jax.learner.policy import LoadedPolicy, architecture, check_architecture, load
from lamour_jax.learner.ppo import evaluate_episodes
from lamour_jax.recovery.objectives import Objective, Original, coefficients
from lamour_jax.recovery.peak import PeakKeeper, candidate_scores, save_candidate
from lamour_jax.recovery.trainer import RecoveryTrainer
from lamour_jax.runtime.checkpoint import CheckpointError, saved_periods
from lamour_jax.runtime.lock import holds_run_dir
from lamour_jax.runtime.loop import RunResult, run_training
from lamour_jax.runtime.run_dir import RunDir, RunRecord
from lamour_jax.runtime.stall import cpu_hang_warning
from lamour_jax.transpile import candidate_set, transpile

BEFORE_EPISODES = 32
# The recovering actor keeps the original's observation statistics (freeze_normalizer) but sees
# far wider inputs than the original's +-10 clip (see PPOConfig.obs_clip).
RETRAIN_OBS_CLIP = 100.0
# Fine-tuning defaults (over the env's PPO defaults, under the user's --set): a KL-adaptive
# learning rate so that updates cannot step far off the original, and 51,200 steps in which
# only the fresh critic learns. Measured on hopper: benchmarks/results/recovery_hopper_cpu.md.
# Restarts drawn at each episode end (auto_reset="per_episode"): every recovery result so far
# was measured that way; with per-rollout starts 2 of 6 seeds kept a recovery against 3 of 6
# (benchmarks/results/auto_reset_hopper_cpu.md), too few to call, so the recovery default
# stays put. The faster per-rollout draw is the default of plain training, where 3 seeds
# showed no difference.
RETRAIN_PPO = {"lr_schedule": "adaptive", "critic_warmup_steps": FRESH_CRITIC_WARMUP_STEPS,
               "auto_reset": "per_episode"}
# Per-env additions, for originals that cannot explore their way out on the defaults: a fresh
# std of 1 (init_std) and a 10x entropy bonus. The cheetah on its back flips only by pumping
# its whole body in rhythm; on the defaults its policy's std collapsed (entropy -0.5 -> -1.9 by
# 819k steps) with no valid step ever sampled, and with these settings it got up (94 % of OOD
# episodes at 1.64M steps, 1 seed x 256 envs): benchmarks/results/recovery_halfcheetah_cpu.md.
# The hopper on the defaults stayed lying in 2 of 5 seeds; with these, 5 of 5 got up
# (benchmarks/results/compare_hopper_cpu.md). The walker lying flat got up with them in its
# first run (100 % at 717k steps, one seed), and the ant's recovery was measured with them
# (benchmarks/results/recovery_ant_cpu.md).
EXPLORE_HARDER = {"init_std": 1.0, "entropy_coef": 0.01}
# The ant's and hopper's originals now train with sample reuse (64 envs x 64 steps, 10 epochs
# of 32 minibatches; the hopper with a bonus on the squashed action's entropy since session
# 22); their recoveries keep the loop every one of their recovery results was measured with:
# 20-step rollouts, 4 epochs of 8 minibatches.
BATCH_LOOP = {"unroll_length": 20, "update_epochs": 4, "num_minibatches": 8}
# The ant on 128 envs (the largest that ran through on XLA's CPU runtime before
# lamour_jax/xla_runtime.py avoided its deadlock; 256 run now too), an evaluation every
# 204,800 steps; the hopper on 256 envs with the pre-tanh entropy bonus.
ANT_RECOVERY_LOOP = {**BATCH_LOOP, "num_envs": 128, "eval_every": 204_800}
HOPPER_RECOVERY_LOOP = {**BATCH_LOOP, "num_envs": 256, "entropy_space": "pre_tanh"}
RETRAIN_PPO_PER_ENV: dict[str, dict[str, float | int | str]] = {
    **{name: EXPLORE_HARDER for name in ("halfcheetah", "walker2d")},
    "hopper": {**EXPLORE_HARDER, **HOPPER_RECOVERY_LOOP},
    "ant": {**EXPLORE_HARDER, **ANT_RECOVERY_LOOP}}


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
    policy_seed: int = 0

    def coefficients(self) -> tuple[float, float]:
        lam, c = coefficients(self.env)
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
    raise ValueError(f"--reward {path}: expected a .py reward program or a `lamour generate` "
                     "run folder (with candidates/*.py or reward.py)")


def recovery_config(spec: RecoverySpec, policy: LoadedPolicy) -> PPOConfig:
    """The env's PPO defaults, the original actor's architecture, then the user's --set.

    The architecture is locked; the dropout rate is not part of it (dropout has no weights),
    so `--set policy_dropout=0` retrains a SeRO-ready original without masks in its rollouts
    and updates. SeRO's uncertainty and consolidation read the frozen original with its own
    dropout either way (`objectives.Original`)."""
    config = default_config(spec.env).replace(
        **architecture(policy), policy_dropout=policy.meta["policy_dropout"],
        freeze_normalizer=True, obs_clip=RETRAIN_OBS_CLIP, total_steps=spec.steps,
        **{**RETRAIN_PPO, **RETRAIN_PPO_PER_ENV.get(spec.env, {})})
    if spec.num_envs is not None:
        config = config.replace(num_envs=spec.num_envs)
    config = config.override(spec.overrides)
    return check_architecture(config, policy, "the recovering actor").validate()


@dataclass(frozen=True)
class EpisodeTrace:
    """One episode of an evaluation batch, for its video: `qpos` from the start to the step
    the episode ended (length + 1 rows); `first_valid_step` -1 if it never was valid."""
    index: int
    qpos: np.ndarray
    ret: float
    length: int
    first_valid_step: int

    def describe(self, episodes: int) -> str:
        valid = ("never valid" if self.first_valid_step < 0 else
                 "valid from the start" if self.first_valid_step == 0 else
                 f"valid from step {self.first_valid_step}")
        return (f"episode {self.index + 1} of the {episodes} evaluated: return {self.ret:.1f}, "
                f"{self.length} steps, {valid}")


def _summary(out: dict[str, np.ndarray], episodes: int) -> dict[str, Any]:
    recovered = out["first_valid_step"] >= 0
    steps = out["first_valid_step"][recovered]
    return {"return_mean": float(out["return"].mean()), "return_std": float(out["return"].std()),
            "length_mean": float(out["length"].mean()), "recovery_rate": float(recovered.mean()),
            "steps_to_recovery_median": float(np.median(steps)) if steps.size else None,
            "episodes": episodes}


def evaluate_and_trace(env: Env, act: Any, episodes: int, seed: int, episode: int = 0
                       ) -> tuple[dict[str, Any], EpisodeTrace]:
    """`evaluate_policy`'s statistics on `env` and the configurations of one of the episodes
    they count, from the same compiled batch (so its video shows an episode of the table)."""
    if not 0 <= episode < episodes:
        raise ValueError(f"episode {episode} is not one of the {episodes} evaluated")
    out = jax.device_get(jax.jit(lambda k: evaluate_episodes(
        env, act, k, episodes, trace_episode=episode))(jax.random.key(seed)))
    length = int(out["length"][episode])
    trace = EpisodeTrace(episode, out["qpos"][:length + 1], float(out["return"][episode]),
                         length, int(out["first_valid_step"][episode]))
    return _summary(out, episodes), trace


def evaluate_policy(env_name: str, variant: str, mode: str, act: Any, episodes: int,
                    seed: int, episode_length: int) -> dict[str, Any]:
    env = make(env_name, variant, mode, episode_length=episode_length)
    out = jax.device_get(jax.jit(lambda k: evaluate_episodes(env, act, k, episodes))(
        jax.random.key(seed)))
    return _summary(out, episodes)


def evaluate_policies(env_name: str, variant: str, mode: str, policy: LoadedPolicy,
                      episodes: int, seed: int, episode_length: int) -> list[dict[str, Any]]:
    """`evaluate_policy` for every policy of a run (its seeds, sweep members or candidates),
    all on the same starts, in one compiled program that maps over the policies: each one is
    evaluated by the same computation as on its own, not a batch of them under vmap."""
    env = make(env_name, variant, mode, episode_length=episode_length)

    def one(member: tuple[Any, Any]) -> dict[str, jax.Array]:
        params, stats = member
        return evaluate_episodes(env, lambda obs: policy.fns.act(params, stats, obs),
                                 jax.random.key(seed), episodes)

    out = jax.device_get(jax.jit(lambda members: jax.lax.map(one, members))(
        (policy.actor_params, policy.obs_stats)))
    return [_summary({k: v[m] for k, v in out.items()}, episodes) for m in range(policy.seeds)]


def evaluate_original(spec: RecoverySpec, policy: LoadedPolicy, episode_length: int
                      ) -> dict[str, Any]:
    act = policy.act_fn(spec.policy_seed)
    return {"ood": evaluate_policy(spec.env, "ood", spec.mode, act, BEFORE_EPISODES,
                                   spec.seed + 1, episode_length),
            "normal": evaluate_policy(spec.env, "normal", spec.mode, act, BEFORE_EPISODES,
                                      spec.seed + 1, episode_length)}


def rank_candidates(history: list[dict[str, Any]], names: Sequence[str], seeds: int
                    ) -> list[dict[str, Any]]:
    """Per candidate, the last evaluation averaged over its seeds, best first: by the env's
    own recovery rate, then the OOD return."""
    last_eval = max(row["eval"] for row in history)
    last = [r for r in history if r["eval"] == last_eval]
    scores = candidate_scores(last, names, seeds)
    rows = []
    for k, name in enumerate(names):
        members = [r for r in last if r["seed"] // seeds == k]

        def stat(key: str, members: list = members) -> list[float]:
            return [r[key] for r in members if r.get(key) is not None]

        rows.append({
            "candidate": name, "index": k,
            "return_mean": scores[k][1],
            "return_std_over_seeds": float(np.std(stat("return_mean"))),
            "recovery_rate": scores[k][0],
            "normal_return_mean": float(np.mean(stat("normal_return_mean"))),
        })
    return sorted(rows, key=lambda r: (-r["recovery_rate"], -r["return_mean"]))


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
    hang = cpu_hang_warning(spec.env, config.num_envs, jax.default_backend(), job="recover")
    if hang:
        log(hang)
    lam, c = spec.coefficients()
    out.mkdir(parents=True, exist_ok=True)
    env = make(spec.env, "ood", spec.mode, episode_length=config.episode_length)
    if spec.method != "lamour":
        sources = []
    programs = [transpile(src, env.observation_size, env.action_size) for _, src in sources]
    names = [name for name, _ in sources] or [spec.method]
    objective = Objective(spec.method, lam, c, spec.switch,
                          candidate_set(programs) if programs else None,
                          Original.from_policy(policy, spec.policy_seed), spec.seeds)
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

    trainer = RecoveryTrainer(env, make(spec.env, "normal", episode_length=config.episode_length),
                              config, objective, policy.seed(spec.policy_seed))
    members = len(names) * spec.seeds
    # Member m trains candidate m // seeds with seed m % seeds: every candidate sees the
    # same seeds, so candidates differ only in their reward.
    seed_keys = jax.random.split(jax.random.key(spec.seed), spec.seeds)
    keys = jnp.concatenate([seed_keys] * len(names))
    initial = None if resume else jax.jit(jax.vmap(trainer.init, in_axes=(0, None, 0)))(
        keys, None, jnp.arange(members))
    meta = {**policy.meta, "variant": "ood", "seeds": members, "recovered_with": spec.method,
            "candidates": names, "obs_clip": config.obs_clip,
            "policy_dropout": config.policy_dropout}
    log(f"recovering {spec.env} with {spec.method} ({len(names)} candidate(s) x {spec.seeds} "
        f"seed(s), λ={lam:g}, c={c:g}, {config.num_envs} envs on {jax.device_count()} "
        f"device(s), {config.num_evals * config.steps_per_eval:,} steps) -> {out}")
    # The evaluation the run continues from (run_training restores it).
    resumed_from = saved_periods(out) if resume else 0
    peak = PeakKeeper(out, names, spec.seeds, meta, resumed_from)
    result: RunResult = run_training(
        trainer, out, seeds=members, seed=spec.seed, resume=resume, progress=progress,
        policy_meta=meta, initial_state=initial, tensorboard=tensorboard,
        run_names=_member_names(names, spec.seeds), after_eval=peak)
    ranking = rank_candidates(read_history(out), names, spec.seeds)
    best = ranking[0]["index"]
    save_candidate(out / "best", result.state, best, spec.seeds, names, meta)
    summary = {"env": spec.env, "method": spec.method, "steps": result.evals_done
               * config.steps_per_eval, "seeds": spec.seeds, "compile_s": result.compile_s,
               "before": before, "candidates": ranking, "best": names[best],
               "peak": peak.record()}
    summary_path.write_text(json.dumps(summary, indent=2))
    return summary


def read_history(out: Path) -> list[dict[str, Any]]:
    """The metrics.jsonl rows of a run (complete after a resume: the learner keeps the rows
    up to the checkpoint it resumed from)."""
    path = Path(out) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]
