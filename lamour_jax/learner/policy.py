"""A trained policy's files: what a run exports (`policy_export`) and how it is read back
(`load`) as a plain function of observations. DIR/policy/ is an orbax folder of the actor's
parameters, observation statistics and dropout maxima (leading axis: members); DIR/policy.json
says how to rebuild the actor."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from lamour_jax.learner.config import PPOConfig
from lamour_jax.learner.networks import Actor, PolicyFns
from lamour_jax.learner.normalizer import RunningStats
from lamour_jax.learner.types import TrainState


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not match the run's program."""


def policy_export(state: TrainState) -> dict[str, Any]:
    stats = state.obs_stats
    return {"actor": state.params["actor"],
            "obs_stats": {"count": stats.count, "mean": stats.mean, "m2": stats.m2},
            "dropout_var_max": state.dropout_var_max}


def load_policy(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    run_dir = Path(run_dir).absolute()
    meta_path = run_dir / "policy.json"
    folder = run_dir / "policy"
    if not folder.is_dir() and (run_dir / "policy.prev").is_dir():  # see save_policy
        folder = run_dir / "policy.prev"
    if not meta_path.is_file() or not folder.is_dir():
        raise CheckpointError(f"{run_dir} holds no exported policy (policy/ and policy.json); "
                              "train one with `lamour train` or point at a run directory")
    try:
        meta = json.loads(meta_path.read_text())
        with ocp.StandardCheckpointer() as ckpt:
            # Onto this process's first device, whatever the saving run's topology was (a
            # policy trained over 8 GPUs or 2 processes loads on a laptop).
            device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
            target = jax.tree.map(
                lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                ckpt.metadata(folder).item_metadata.tree)
            policy = ckpt.restore(folder, target)
    except Exception as exc:
        raise CheckpointError(f"the policy in {run_dir} cannot be read ({type(exc).__name__}: "
                              f"{str(exc)[:300]})") from None
    return policy, meta


def member_count(meta: dict[str, Any]) -> int:
    """How many policies a policy.json describes ("seeds" in older files)."""
    return int(meta.get("members", meta.get("seeds")))


def sweep_points(meta: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A sweep's grid point per policy, or None when the policies are not a sweep's (runs
    retrained from a sweep's policy recorded its point once, beside several seeds)."""
    points = meta.get("sweep")
    return points if points and len(points) == member_count(meta) else None


def check_member(meta: dict[str, Any], index: int) -> None:
    members = member_count(meta)
    if not 0 <= index < members:
        raise ValueError(f"policy index {index} out of range: the run has {members} "
                         f"policies (indices 0 to {members - 1})")


@dataclass
class LoadedPolicy:
    meta: dict[str, Any]
    fns: PolicyFns
    actor_params: Any  # leading axis: members
    obs_stats: RunningStats  # leading axis: members
    dropout_var_max: jax.Array

    @property
    def members(self) -> int:
        """Policies in the file: a run's seeds, sweep points or candidates' seeds."""
        return member_count(self.meta)

    def member(self, index: int) -> dict[str, Any]:
        """One member's policy in the form `make_train(init_actor=...)` takes."""
        check_member(self.meta, index)
        pick = lambda tree: jax.tree.map(lambda x: x[index], tree)  # noqa: E731
        return {"actor": pick(self.actor_params), "obs_stats": pick(self.obs_stats),
                "dropout_var_max": self.dropout_var_max[index]}

    def act_fn(self, index: int = 0) -> Any:
        chosen = self.member(index)
        return lambda obs: self.fns.act(chosen["actor"], chosen["obs_stats"], obs)

    def distribution(self, obs: jax.Array, index: int = 0, obs_clip: float | None = None
                     ) -> tuple[jax.Array, jax.Array]:
        """Pre-tanh mean and std of the deterministic actor on a batch of observations, its
        inputs clipped at `obs_clip` (default: the policy's own), as a retraining that sets
        another clip would see them."""
        fns = self.fns if obs_clip is None else replace(self.fns, obs_clip=obs_clip)
        chosen = self.member(index)
        return jax.vmap(lambda o: fns.distribution(chosen["actor"], chosen["obs_stats"], o))(obs)


def load(run_dir: Path) -> LoadedPolicy:
    raw, meta = load_policy(run_dir)
    actor = Actor(meta["action_size"], tuple(meta["policy_hidden"]), meta["activation"],
                  meta["policy_dropout"])
    stats = RunningStats(**{k: jnp.asarray(v) for k, v in raw["obs_stats"].items()})
    fns = PolicyFns(actor, meta["normalize_observations"], meta.get("obs_clip", 10.0),
                    meta.get("obs_std_floor", 1e-3))
    return LoadedPolicy(meta, fns, raw["actor"], stats, jnp.asarray(raw["dropout_var_max"]))


def architecture(policy: LoadedPolicy) -> dict[str, Any]:
    """The config fields the policy's parameters and inputs depend on: a run that starts from
    it (`lamour train --init-policy`, a recovery) must keep them. The dropout rate is not
    among them (dropout has no weights)."""
    meta = policy.meta
    return {"policy_hidden": tuple(meta["policy_hidden"]), "activation": meta["activation"],
            "normalize_observations": meta["normalize_observations"],
            "obs_std_floor": policy.fns.obs_std_floor}


def check_architecture(config: PPOConfig, policy: LoadedPolicy, role: str) -> PPOConfig:
    """`config`, once it is known to keep `policy`'s architecture (ValueError naming the
    --set that changed it otherwise); `role` says which actor, for the message."""
    for name, value in architecture(policy).items():
        if getattr(config, name) != value:
            raise ValueError(f"--set {name}: {role} must have the original policy's "
                             f"architecture ({name}={value})")
    return config
