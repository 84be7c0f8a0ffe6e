"""The host side of a training run: compile once, run evaluation periods, checkpoint, log.

The device runs one compiled `run_chunk` per evaluation period; between them the host checks
for NaN/inf, saves a checkpoint, exports the policy, appends to metrics.jsonl and moves the
progress bar. Several seeds are one program (vmap over the TrainState), and so is a
hyperparameter sweep (vmap over the TrainState and the PPOConfig's scalar leaves); the state
always carries a leading seed axis, also for one seed, so checkpoints and metrics look the same.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from lamour_jax.interrupt import deferred_stop
from lamour_jax.learner.config import PPOConfig
from lamour_jax.learner.policy import policy_export
from lamour_jax.learner.ppo import ADAPTIVE_LR_RANGE, Trainer
from lamour_jax.learner.sweep import Sweep, format_point
from lamour_jax.learner.types import TrainState
from lamour_jax.runtime.checkpoint import RunCheckpoints, save_policy
from lamour_jax.runtime.distributed import is_primary
from lamour_jax.runtime.heartbeat import BarHeartbeat, redraw_interval
from lamour_jax.runtime.lock import holds_run_dir
from lamour_jax.runtime.run_dir import RunDir
from lamour_jax.runtime.stall import STALL_EXIT, StallWatchdog, timeout_from_env
from lamour_jax.xla_cache import compile_reported


class TrainingDiverged(RuntimeError):
    """NaN or inf in losses or parameters; the last good checkpoint is kept."""


def write_stall_report(run_dir: Path, period: int, saved_eval: int, seconds: float) -> str:
    """Writes `run_dir/stall_report.json` and returns what the stalled run says."""
    report = {"eval": period, "seconds_without_cpu": round(seconds, 1),
              "last_good_checkpoint": saved_eval}
    if is_primary():
        (run_dir / "stall_report.json").write_text(json.dumps(report, indent=2))
    return (f"stalled: evaluation period {period} has used no CPU for {seconds:.0f} s, so the "
            f"compiled program is stuck, not slow (a known XLA CPU runtime deadlock, seen with "
            f"ant; benchmarks/results/train_throughput_cpu.md): {_kept(run_dir, saved_eval)}. "
            f"If it stalls again, use fewer envs (--num-envs) or another device. "
            f"LAMOUR_STALL_TIMEOUT sets the wait in seconds (0: off).")


@dataclass
class RunResult:
    state: TrainState
    history: list[dict[str, Any]] = field(default_factory=list)
    compile_s: float = 0.0
    evals_done: int = 0


def _scalar_metrics(metrics: dict[str, np.ndarray], member: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in metrics.items():
        value = np.asarray(value)[member]
        if value.ndim:
            out[name] = value.tolist()
        else:  # NaN (e.g. a median over no recovered episodes) is written as null
            out[name] = float(value) if np.isfinite(value) else None
    return out


def recorded(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    """A metric's values over history rows, without the rows where it was NaN (written as
    null by `_scalar_metrics`) or absent."""
    return np.array([r[key] for r in rows if r.get(key) is not None], float)


# Minibatch steps per iteration above which an update alone can take the KL-adaptive rate to its
# floor: the rule acts after every step on the KL to the rollout policy, which grows over an
# iteration's epochs, so with hundreds of steps the later ones keep dividing the rate, 1.5x
# each (the halfcheetah's and walker2d's 10 x 32; lr_schedule_native_cpu.md).
LONG_UPDATE = 64


def rate_at_floor_note(cfg: PPOConfig, rows: list[dict[str, Any]]) -> str | None:
    """A KL-adaptive rate pinned at its floor learns next to nothing while every metric looks
    healthy (KL near its target, finite losses): the updates move the policy too far for any
    rate, as when inputs far outside the trained range saturate the actor
    (benchmarks/results/pushchair_cpu.md) or an iteration takes many minibatch steps
    (LONG_UPDATE). Names the members it happened to and the likely cause, or None."""
    if cfg.lr_schedule != "adaptive":
        return None
    floor = ADAPTIVE_LR_RANGE[0]
    # The rate steps by 1.5x around its floor, so "at the floor" means below twice it.
    pinned = [row["member"] for row in rows if (row.get("learning_rate") or 1.0) < 2 * floor]
    if not pinned:
        return None
    steps = cfg.update_epochs * cfg.num_minibatches
    cause = (f"{steps} minibatch steps per iteration (update_epochs x num_minibatches): the "
             "KL to the rollout policy grows over the epochs and the rule divides the rate at "
             "every step past 2 x desired_kl" if steps > LONG_UPDATE else
             "saturated actions? a retraining's --set obs_clip")
    return (f"note: the KL-adaptive learning rate is at its floor ({floor:g}) for member(s) "
            f"{', '.join(map(str, pinned))}: each update moves the policy past desired_kl "
            f"even at that rate, so it barely learns ({cause}; or --set lr_schedule=constant)")


def over_seeds(fn: Callable[[TrainState], Any], seeds: int) -> Callable[[TrainState], Any]:
    """`fn` applied to a state with a leading seed axis. Several seeds: vmap. One seed: `fn`
    on the bare state, the axis dropped and put back around it, because a size-1 vmap around
    the batched MJX step halves its speed on the CPU (hopper, 256 envs: 3.2k vs 7.0k training
    steps/s; the env step alone 4.6k vs 8.5k)."""
    if seeds > 1:
        return jax.vmap(fn)

    def single(state: TrainState) -> Any:
        out = fn(jax.tree.map(lambda x: x[0], state))
        return jax.tree.map(lambda x: x[None], out)

    return single


@jax.jit
def _keep_members(keep: jax.Array, new: TrainState, old: TrainState) -> TrainState:
    """`new` where `keep` (one flag per member of the leading axis), else `old`."""
    def pick(a: jax.Array, b: jax.Array) -> jax.Array:
        return jnp.where(keep.reshape(keep.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(pick, new, old)


@holds_run_dir("run_dir")
def run_training(trainer: Trainer, run_dir: Path, *, seeds: int = 1, seed: int = 0,
                 resume: bool = False, progress: bool = True,
                 policy_meta: dict[str, Any] | None = None,
                 initial_state: TrainState | None = None, tensorboard: bool = False,
                 run_names: Sequence[str] | None = None,
                 after_eval: Callable[[int, TrainState, list[dict[str, Any]]], None] | None = None,
                 sweep: Sweep | None = None) -> RunResult:
    """Train `seeds` seeds of `trainer` in one program, writing everything to `run_dir`.

    With a `sweep`, the program trains its members instead (grid points x the sweep's seeds,
    `seeds` unused), each with its own hyperparameters, and every metrics row says which
    (`hp`); "member" in the rows is the index on the batch axis, as everywhere else.

    `after_eval(evaluation, state, rows)` runs in every process after each evaluation period
    is checkpointed and logged (recovery keeps its best evaluation's policy with it).

    `tensorboard` also writes the metrics as TensorBoard event files, one run per seed
    named by `run_names` (default seed_0, seed_1, ...).
    In a multi-process run every process calls this; process 0 alone writes metrics.jsonl
    and shows progress, checkpoints are written by all (see `distributed`). No other process
    may write `run_dir` meanwhile: RunDirInUse (`runtime.lock`) if one does."""
    cfg = trainer.config
    primary = is_primary()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if sweep is not None:
        seeds = sweep.size
        keys = sweep.keys(seed)
        hparams: tuple[PPOConfig, ...] = (sweep.hparams(cfg),)  # a second vmapped argument
    else:
        keys = jax.random.split(jax.random.key(seed), seeds)
        hparams = ()
    init = jax.jit(jax.vmap(trainer.init))  # once per run: no need for over_seeds
    checkpoints = RunCheckpoints(run_dir)
    metrics_path = RunDir(run_dir).metrics
    start_eval = 0
    wall_before = 0.0  # wall time of the evaluations a resumed run already has
    kept_rows: list[dict[str, Any]] = []
    # A run that writes TensorBoard files keeps writing them when resumed.
    board_dir = run_dir / "tensorboard"
    tensorboard = tensorboard or (resume and board_dir.is_dir())
    backfill = tensorboard and not board_dir.is_dir()
    if resume:
        # A fresh state as the template: its shardings say where each restored leaf goes.
        start_eval, state = checkpoints.restore(init(keys, *hparams))
        # Drop metric lines written after the checkpoint we resume from.
        if primary:
            kept_rows = [row for row in RunDir(run_dir).history() if row["eval"] <= start_eval]
            metrics_path.write_text("".join(json.dumps(row) + "\n" for row in kept_rows))
            if kept_rows:
                wall_before = float(kept_rows[-1]["wall_s"])
    else:
        state = init(keys, *hparams) if initial_state is None else initial_state
        if primary:
            metrics_path.write_text("")

    # No buffer donation: after a NaN the previous state must still be intact.
    chunk = jax.jit(jax.vmap(trainer.run_chunk) if sweep is not None
                    else over_seeds(trainer.run_chunk, seeds))
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if progress and primary else (
        lambda m: None)
    compiled, compile_s = compile_reported(
        chunk.lower(state, *hparams),
        f"the training program ({trainer.env.name}, {seeds} member(s), one evaluation period "
        f"of {cfg.steps_per_eval:,} steps)", say)
    result = RunResult(state=state, compile_s=compile_s, evals_done=start_eval)
    total_evals = cfg.num_evals
    bar = tqdm(total=total_evals * cfg.steps_per_eval, initial=start_eval * cfg.steps_per_eval,
               unit="step", unit_scale=True, disable=not (progress and primary), file=sys.stderr,
               desc=f"{trainer.env.name} x{seeds}")
    saved_eval = start_eval
    diverged: set[int] = set()  # sweep members that went NaN, frozen at their last good state
    rate_noted = False  # rate_at_floor_note: once a run
    board = None
    if tensorboard and primary:
        from lamour_jax.runtime.tensorboard import TensorBoardLog

        names = run_names or (sweep.run_names() if sweep is not None
                              else [f"seed_{s}" for s in range(seeds)])
        board = TensorBoardLog(run_dir, names,
                               first_step=start_eval * cfg.steps_per_eval)
        if backfill:  # --tensorboard first given on a resume: the evaluations so far too
            board.write(kept_rows)
    wall_start = time.perf_counter()
    period = start_eval + 1

    def stalled(seconds: float) -> None:  # on the watchdog's thread: the main one is stuck
        print(f"\n{write_stall_report(run_dir, period, saved_eval, seconds)}", file=sys.stderr,
              flush=True)
        os._exit(STALL_EXIT)

    on_cpu = jax.default_backend() == "cpu"
    watchdog = StallWatchdog(timeout_from_env() if on_cpu else 0.0, stalled)
    try:
        with (deferred_stop() as stop_if_requested, watchdog,
              BarHeartbeat(bar, redraw_interval())):
            for k in range(start_eval, total_evals):
                period = k + 1
                bar.set_description(f"{trainer.env.name} x{seeds}, period {period}/{total_evals}")
                tick = time.perf_counter()
                with watchdog.watch():
                    new_state, metrics = compiled(result.state, *hparams)
                    metrics = jax.device_get(metrics)
                elapsed = time.perf_counter() - tick
                finite = np.asarray(metrics["finite"], dtype=bool)
                if sweep is not None and finite.any() and not finite.all():
                    # A sweep goes on without the members that diverged (an aggressive grid
                    # point should not cost the others): each keeps its last good state.
                    new_state = _keep_members(jnp.asarray(finite), new_state, result.state)
                    for m in np.flatnonzero(~finite):
                        if m not in diverged and primary:
                            print(f"\nsweep member {m} ({format_point(sweep.member(m))}, seed "
                                  f"{sweep.member_seed(m)}) diverged (NaN/inf) in evaluation "
                                  f"period {k + 1}; it keeps its state from before it, the "
                                  "others go on", file=sys.stderr, flush=True)
                        diverged.add(int(m))
                elif not finite.all():
                    bad = sorted(n for n, v in metrics.items()
                                 if np.issubdtype(np.asarray(v).dtype, np.floating)
                                 and not np.all(np.isfinite(v)))
                    report = {"eval": k + 1, "non_finite_metrics": bad,
                              "last_good_checkpoint": saved_eval}
                    if primary:
                        (run_dir / "nan_report.json").write_text(json.dumps(report, indent=2))
                    raise TrainingDiverged(
                        f"NaN/inf in training during evaluation period {k + 1} (non-finite: "
                        f"{', '.join(bad) or 'parameters'}); stopped: {_kept(run_dir, saved_eval)}"
                        f". Try a lower learning rate or max_grad_norm. Details: "
                        f"{run_dir / 'nan_report.json'}")
                result.state = new_state
                result.evals_done = k + 1
                step = (k + 1) * cfg.steps_per_eval
                checkpoints.save(k + 1, result.state)
                saved_eval = k + 1
                if policy_meta is not None:
                    save_policy(run_dir, policy_export(result.state), policy_meta)
                wall = wall_before + time.perf_counter() - wall_start
                rows = []
                for s in range(seeds):
                    row = {"eval": k + 1, "step": step, "member": s, "wall_s": round(wall, 3),
                           "sps": round(seeds * cfg.steps_per_eval / elapsed, 1)}
                    if sweep is not None:
                        row["hp"] = sweep.member(s)
                    if finite[s]:
                        row.update(_scalar_metrics(metrics, s))
                        row.pop("finite", None)
                    else:  # a diverged sweep member: its metrics measure a NaN network
                        row["diverged"] = True
                    rows.append(row)
                result.history.extend(rows)
                if primary:
                    with metrics_path.open("a") as f:
                        f.writelines(json.dumps(row) + "\n" for row in rows)
                if board is not None:
                    board.write(rows)
                note = None if rate_noted or not primary else rate_at_floor_note(cfg, rows)
                if note is not None:
                    rate_noted = True
                    bar.write(note, file=sys.stderr)
                if after_eval is not None:
                    after_eval(k + 1, result.state, rows)
                bar.update(cfg.steps_per_eval)
                bar.set_postfix(sps=f"{seeds * cfg.steps_per_eval / elapsed:,.0f}",
                                ret=f"{float(np.mean(metrics['return_mean'])):.1f}",
                                reward_per_step=f"{float(np.mean(metrics['train_reward'])):.3f}")
                stop_if_requested()  # Ctrl-C / SIGTERM: this period is saved, stop here
    except KeyboardInterrupt:
        # The last completed evaluation period is already saved; make sure it reaches disk.
        checkpoints.wait()
        bar.close()
        print(f"\ninterrupted: {_kept(run_dir, saved_eval)}", file=sys.stderr)
        raise
    except OSError as err:  # permission denied, no space left, ...: the run cannot go on
        bar.close()
        raise StorageError(f"cannot write {err.filename or run_dir} "
                           f"({err.strerror or err}); "
                           f"{_kept(run_dir, checkpoints.discard_unfinished())}") from None
    finally:
        try:
            checkpoints.wait()
            checkpoints.close()
        except OSError:
            checkpoints.discard_unfinished()  # reported above, or by the next resume
        bar.close()
        if board is not None:
            board.close()
    return result


class StorageError(OSError):
    """The run folder could not be written; the message names the path and what was kept."""

    def __str__(self) -> str:
        return str(self.args[0])


def _kept(run_dir: Path, saved: int) -> str:
    """What a run stopped early leaves, for its last message."""
    if saved:
        return (f"checkpoint {saved} in {run_dir / 'checkpoints'} is intact; continue with "
                f"--resume {run_dir}")
    return (f"no evaluation period had finished, so there is no checkpoint to resume: run the "
            f"same command again ({run_dir} holds none and can be reused)")
