"""Evaluation, in one place: episodes to the time limit with a deterministic policy, their
statistics (return, length, recovery), and the one episode a video shows.

`evaluate_episodes` is pure and runs inside the training program (each evaluation period);
the others compile their own program for a loaded policy (`lamour evaluate`, the before/after
evaluations of a recovery, the demo).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from lamour_jax.envs import Env, make
from lamour_jax.envs.wrappers import ONE_DEVICE, EnvDevices

if TYPE_CHECKING:
    from lamour_jax.learner.policy import LoadedPolicy


def evaluate_episodes(env: Env, act: Callable[[jax.Array], jax.Array], key: jax.Array,
                      num_episodes: int, devices: EnvDevices = ONE_DEVICE,
                      trace_episode: int | None = None, record: bool = False
                      ) -> dict[str, jax.Array]:
    """Run `num_episodes` episodes in parallel to the time limit (no auto-reset).

    Per episode: return, unmasked task return, length, and the step at which the state first
    passed the env's validity test (-1 if never; 0 if it started valid); where the task has a
    success test (a "success" reward term), "success": 1 if it held at the episode's end.
    With `trace_episode`, also "qpos" [episode_length + 1, nq]: that episode's configurations
    from its start, for a video of an episode the statistics count (a separate unbatched
    rollout of the same start can follow another float path and, on a knife-edge policy,
    another episode).
    With `record`, also "states": every episode's observations "obs" [episode_length + 1,
    num_episodes, obs] and configurations "qpos" from its start, and the actions taken
    "action" [episode_length, num_episodes, act]; rows after an episode's end are padding.
    """
    record = record or trace_episode is not None
    reset = devices.map(jax.vmap(env.reset), num_episodes)
    env_step = devices.map(jax.vmap(env.step), num_episodes)
    start = devices.pin(reset(jax.random.split(key, num_episodes)), num_episodes)
    ones = jnp.ones(num_episodes)

    # A task with a success test (PushChair) reports it at each episode's last step.
    has_success = "success" in start.metrics

    def step(carry: tuple, _: None) -> tuple[tuple, dict[str, jax.Array] | None]:
        env_state, alive, ret, original, length, first_valid, success = carry
        action = act(env_state.obs)
        nxt = devices.pin(env_step(env_state, action), num_episodes)
        # where, not alive * reward: an ended episode's env steps on and 0 * NaN is NaN.
        ret = ret + jnp.where(alive > 0, nxt.reward, 0.0)
        original = original + jnp.where(alive > 0, nxt.info["original_reward"], 0.0)
        length = length + alive
        newly_valid = alive * nxt.info["valid"] * (first_valid < 0)
        first_valid = jnp.where(newly_valid > 0, length, first_valid)
        if has_success:
            success = jnp.where(alive > 0, nxt.metrics["success"], success)
        alive = alive * (1.0 - nxt.done)
        traced = {"obs": nxt.obs, "qpos": nxt.data.qpos, "action": action} if record else None
        return (nxt, alive, ret, original, length, first_valid, success), traced

    init = (start, ones, 0 * ones, 0 * ones, 0 * ones, jnp.where(start.info["valid"], 0.0, -1.0),
            0 * ones)
    (_, _, ret, original, length, first_valid, success), traced = jax.lax.scan(
        step, init, None, length=env.episode_length)
    out = {"return": ret, "original_return": original, "length": length,
           "first_valid_step": first_valid}
    if has_success:
        out["success"] = success
    if record:
        out["states"] = {"action": traced["action"], **{
            k: jnp.concatenate([first[None], traced[k]])
            for k, first in (("obs", start.obs), ("qpos", start.data.qpos))}}
    if trace_episode is not None:
        out["qpos"] = out["states"]["qpos"][:, trace_episode]
    return out


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


def summarize(out: dict[str, np.ndarray], episodes: int) -> dict[str, Any]:
    """The figures a table reports of an `evaluate_episodes` batch (on the host)."""
    recovered = out["first_valid_step"] >= 0
    steps = out["first_valid_step"][recovered]
    return {"return_mean": float(out["return"].mean()), "return_std": float(out["return"].std()),
            "length_mean": float(out["length"].mean()), "recovery_rate": float(recovered.mean()),
            "steps_to_recovery_median": float(np.median(steps)) if steps.size else None,
            "episodes": episodes,
            **({"success_rate": float(out["success"].mean())} if "success" in out else {})}


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
    return summarize(out, episodes), trace


def evaluate_policy(env_name: str, variant: str, mode: str, act: Any, episodes: int,
                    seed: int, episode_length: int, physics: str | None = None
                    ) -> dict[str, Any]:
    env = make(env_name, variant, mode, episode_length=episode_length, physics=physics)
    out = jax.device_get(jax.jit(lambda k: evaluate_episodes(env, act, k, episodes))(
        jax.random.key(seed)))
    return summarize(out, episodes)


def episodes_of_members(env: Env, policy: LoadedPolicy, episodes: int, seed: int,
                        members: list[int] | None = None, record: bool = False
                        ) -> dict[str, Any]:
    """`evaluate_episodes` for several policies of a run (its seeds, sweep members or
    candidates; default all), on the same starts, in one compiled program that maps over them:
    each one is evaluated by the same computation as on its own, not a batch of them under
    vmap. Host arrays with a leading axis over `members`."""
    chosen = np.arange(policy.members) if members is None else np.asarray(members)

    def one(member: tuple[Any, Any]) -> dict[str, jax.Array]:
        params, stats = member
        return evaluate_episodes(env, lambda obs: policy.fns.act(params, stats, obs),
                                 jax.random.key(seed), episodes, record=record)

    params = jax.tree.map(lambda x: x[chosen], (policy.actor_params, policy.obs_stats))
    return jax.device_get(jax.jit(lambda p: jax.lax.map(one, p))(params))


def evaluate_policies(env_name: str, variant: str, mode: str, policy: LoadedPolicy,
                      episodes: int, seed: int, episode_length: int, physics: str | None = None
                      ) -> list[dict[str, Any]]:
    """`evaluate_policy` for every policy of a run, on the same starts
    (`episodes_of_members`)."""
    env = make(env_name, variant, mode, episode_length=episode_length, physics=physics)
    out = episodes_of_members(env, policy, episodes, seed)
    return [summarize({k: v[m] for k, v in out.items()}, episodes) for m in range(policy.members)]
