"""Orbax checkpoints of the full train state (DIR/checkpoints/<k>: the TrainState after
evaluation period k), and the writing of the small exported policy (DIR/policy, swapped in
whole). The folder's other files: `run_dir`.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from lamour_jax.learner.config import PPOConfig
from lamour_jax.learner.policy import (
    CheckpointError,
    check_member,
    load_policy,
    member_count,
    sweep_points,
)
from lamour_jax.runtime.distributed import is_primary
from lamour_jax.runtime.run_dir import RunDir


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _leaf_name(index: int, path: tuple) -> str:
    return f"{index:05d}_" + re.sub(r"[^A-Za-z0-9_]+", ".", jax.tree_util.keystr(path)).strip(".")


def to_saveable(tree: Any) -> dict[str, Any]:
    """A flat {name: array} of the tree's non-empty leaves, typed PRNG keys as raw uint32.

    Orbax refuses zero-size arrays (mjx.Data has several), and keys need their raw data; the
    template given to `from_saved` restores both.
    """
    out = {}
    for i, (path, x) in enumerate(jax.tree_util.tree_flatten_with_path(tree)[0]):
        if _is_key(x):
            x = jax.random.key_data(x)
        if math.prod(x.shape):
            out[_leaf_name(i, path)] = x
    return out


def from_saved(saved: dict[str, Any], template: Any) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    restored = []
    for i, (path, t) in enumerate(leaves):
        name = _leaf_name(i, path)
        if _is_key(t):
            # An abstract template (eval_shape) carries no impl: the default one is ours.
            impl = jax.random.key_impl(t) if isinstance(t, jax.Array) else None
            value = jax.random.wrap_key_data(saved[name], impl=impl)
        elif name in saved:
            value = saved[name]
        else:  # a zero-size leaf: the template's own (keeps a concrete template's sharding)
            value = t if isinstance(t, jax.Array) else jnp.zeros(t.shape, t.dtype)
        restored.append(value)
    return jax.tree_util.tree_unflatten(treedef, restored)


def _abstract(template: Any) -> dict[str, jax.ShapeDtypeStruct]:
    """What `to_saveable` makes of `template`, as shapes (the restore target). A concrete
    template's leaves are restored with its shardings, which a multi-process run needs (each
    process reads its own shards); an abstract one restores onto this process's first device."""
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    out = {}
    for i, (path, t) in enumerate(jax.tree_util.tree_flatten_with_path(template)[0]):
        sharding = t.sharding if isinstance(t, jax.Array) else device
        if _is_key(t):
            t = jax.eval_shape(jax.random.key_data, t)
        if math.prod(t.shape):
            out[_leaf_name(i, path)] = jax.ShapeDtypeStruct(t.shape, t.dtype, sharding=sharding)
    return out


# TrainState fields renamed since checkpoints were first written: a run saved before the
# rename still resumes (its leaves are read under their old names).
RENAMED_FIELDS = {"member": "variant"}


def _older_names(target: dict[str, Any]) -> dict[str, str]:
    """{name in `target`: the name it had before its field was renamed} (`RENAMED_FIELDS`)."""
    out = {}
    for name in target:
        prefix, _, field = name.partition("_")
        if field in RENAMED_FIELDS:
            out[name] = f"{prefix}_{RENAMED_FIELDS[field]}"
    return out


class RunCheckpoints:
    """Save and restore the TrainState of a run directory."""

    def __init__(self, run_dir: Path, max_to_keep: int = 3) -> None:
        self.dir = RunDir(Path(run_dir).absolute()).checkpoints
        self.manager = ocp.CheckpointManager(
            self.dir, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

    def latest(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any) -> None:
        self.manager.save(step, args=ocp.args.StandardSave(to_saveable(state)))

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def restore(self, template: Any, step: int | None = None) -> tuple[int, Any]:
        """The state at `step` (default: latest), shaped like `template` (abstract is fine)."""
        step = self.latest() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.dir}: nothing to resume; start a new "
                                  "run without --resume")
        try:
            saved = self._restore_renamed(step, _abstract(template))
        except Exception as exc:  # orbax raises many types for unreadable/mismatched data
            raise CheckpointError(f"checkpoint {self.dir / str(step)} cannot be restored "
                                  f"({type(exc).__name__}: {str(exc)[:300]}). It may be "
                                  "corrupt or come from a different config; the run directory "
                                  "was left as it is") from None
        return step, from_saved(saved, template)

    def _restore_renamed(self, step: int, target: dict[str, Any]) -> dict[str, Any]:
        """The saved leaves at `step` under `target`'s names; a checkpoint written before a
        field was renamed (`RENAMED_FIELDS`) is read under the old names."""
        try:
            return self.manager.restore(step, args=ocp.args.StandardRestore(target))
        except Exception:
            older = _older_names(target)
            if not older:
                raise
        saved = self.manager.restore(step, args=ocp.args.StandardRestore(
            {older.get(name, name): leaf for name, leaf in target.items()}))
        current = {old: name for name, old in older.items()}
        return {current.get(name, name): leaf for name, leaf in saved.items()}

    def close(self) -> None:
        self.manager.close()

    def discard_unfinished(self) -> int:
        """Removes what a save that failed (no space, no permission) left half-written, and
        returns the latest complete checkpoint (0: none)."""
        # A save still being written in the background finishes (or fails) first; its
        # failure is what is being cleaned up.
        with contextlib.suppress(Exception):
            self.manager.wait_until_finished()
        for tmp in self.dir.glob("*.orbax-checkpoint-tmp*"):
            shutil.rmtree(tmp, ignore_errors=True)
        try:
            self.manager.reload()
            return self.latest() or 0
        except Exception:  # noqa: BLE001 - the folder is what failed; read it as it stands
            steps = [int(p.name) for p in self.dir.iterdir() if p.name.isdigit()]
            return max(steps, default=0)


def saved_periods(run_dir: Path) -> int:
    """Evaluation periods in the run's latest checkpoint (0: none), where a resume continues
    from (not metrics.jsonl, which can hold one period more when a run stopped while saving).
    Reads only: a folder without checkpoints is left as it is."""
    if not RunDir(run_dir).checkpoints.is_dir():
        return 0
    checkpoints = RunCheckpoints(run_dir)
    try:
        return checkpoints.latest() or 0
    finally:
        checkpoints.close()


def resume_budget(run_dir: Path, config: PPOConfig, total_steps: int) -> tuple[int, int]:
    """(steps done, steps planned) per seed when the run in `run_dir`, trained with `config`,
    is asked for `total_steps` in all: whole evaluation periods, so the plan can be a little
    more. ValueError when the run has already done more than that: a run only continues."""
    asked = config.replace(total_steps=total_steps)
    done = saved_periods(run_dir) * config.steps_per_eval
    planned = asked.num_evals * asked.steps_per_eval
    if done > planned:
        raise ValueError(f"{run_dir} has already trained {done:,} steps per seed, more than "
                         f"--steps {total_steps:,}; a run only continues")
    return done, planned


def export_member(run_dir: Path, index: int, out: Path) -> dict[str, Any]:
    """Write policy number `index` of a multi-seed, sweep or recovery run to `out` as a policy
    folder of its own (policy/, policy.json, and the run's config.json): what ships, and what
    `--policy` or `--init-policy` then reads without a member index. Returns its metadata,
    which keeps the member's sweep point or candidate and says where it came from."""
    policy, meta = load_policy(run_dir)
    check_member(meta, index)
    picked = jax.tree.map(lambda x: x[index:index + 1], policy)
    own = {**meta, "members": 1,
           "exported_from": {"run": str(Path(run_dir).absolute()), "member": index}}
    own.pop("seeds", None)
    points = sweep_points(meta)
    own.pop("sweep", None)  # a record that is not one point per policy says nothing of this one
    if points:
        own["sweep"] = [points[index]]
    if len(meta.get("candidates") or []) > 1:  # candidate k holds members k*seeds ..
        own["candidates"] = [meta["candidates"][index * len(meta["candidates"])
                                                 // member_count(meta)]]
    out = Path(out)
    save_policy(out, picked, own)
    config = Path(run_dir) / "config.json"
    if config.is_file() and is_primary():
        shutil.copyfile(config, out / "config.json")
    return own


def save_policy(run_dir: Path, policy: dict[str, Any], meta: dict[str, Any]) -> None:
    """The policy alone (small: what gets committed and what recovery starts from). Every
    process of a multi-process run calls it (orbax saves collectively); process 0 swaps it
    in and writes the JSON.

    Orbax overwrites a folder by deleting it first, so the policy is written beside the
    current one (policy.next) and swapped in by two renames: a reader (`lamour evaluate` or a
    recovery's `--policy` on a run still training) never finds it missing or half-written,
    and a run killed between the renames leaves policy.prev, which `load_policy` reads."""
    run_dir = Path(run_dir).absolute()
    final, staged, previous = (run_dir / name for name in ("policy", "policy.next",
                                                           "policy.prev"))
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(staged, policy, force=True)
    if is_primary():
        shutil.rmtree(previous, ignore_errors=True)
        if final.exists():
            final.rename(previous)
        staged.rename(final)
        shutil.rmtree(previous, ignore_errors=True)
        tmp = run_dir / "policy.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2))
        tmp.replace(run_dir / "policy.json")
