"""Continuing a recovery run: what it was started with, and what a rerun may change (only
its budget, which may grow)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from lamour_jax.envs import UNRECORDED_PHYSICS
from lamour_jax.recovery.run import RecoverySpec
from lamour_jax.runtime.checkpoint import resume_budget
from lamour_jax.runtime.run_dir import RunDir, RunRecord


def recorded_run(run: RunDir) -> tuple[RecoverySpec, RunRecord]:
    """The RecoverySpec the run was started with, and its whole record; NotARun or
    ValueError when there is no readable recovery record."""
    record = run.read("recovery")
    if "policy_seed" in record.fields:  # the field's name in records written before
        record.fields["policy_member"] = record.fields.pop("policy_seed")
    record.fields.setdefault("physics", UNRECORDED_PHYSICS)
    # Runs recorded before these settings existed ran without them (not the env's default now).
    record.fields.setdefault("normal_starts", 0.0)
    record.fields.setdefault("consolidate_after", 0)
    record.fields.setdefault("diverse_starts", 0.0)
    record.fields.setdefault("shaping", "reward")
    names = RecoverySpec.__dataclass_fields__
    spec = RecoverySpec(env=record.env, **{k: v for k, v in record.fields.items()
                                           if k in names})
    return spec, record


def budget(run: RunDir, record: RunRecord, steps: int) -> tuple[int, int]:
    """(steps done, steps planned) for the run asked for `steps` per seed; ValueError for a
    budget below what it has done."""
    try:
        return resume_budget(run.path, record.ppo, steps)
    except ValueError as err:
        raise ValueError(f"{err}, and a comparison compares equal budgets: use --steps of at "
                         "least that, or another --out") from None


def extended(spec: RecoverySpec, record: RunRecord, run: RunDir, steps: int | None,
             log: Callable[[str], None]) -> RecoverySpec:
    """`spec` with its budget raised to `steps` (a resume that continues a run further)."""
    if steps is None or steps == spec.steps:
        return spec
    done, _ = budget(run, record, steps)
    log(f"continuing {run} from {done:,} to {steps:,} steps per seed")
    return dataclasses.replace(spec, steps=steps)


def check_same_run(run: RunDir, spec: RecoverySpec, policy: Path) -> tuple[int, int]:
    """A comparison rerun may raise the budget of a method it started earlier; any other
    difference would put two settings in one table (ValueError). Returns (steps done, steps
    planned)."""
    recorded, record = recorded_run(run)
    # λ and c as they apply (the record holds c resolved to its per-env default).
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
        raise ValueError(f"{run} was started with other settings ({'; '.join(changed)}); "
                         "rerun with the same ones (only --steps may grow) or choose another "
                         "--out")
    return budget(run, record, spec.steps)
