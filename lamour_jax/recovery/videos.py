"""Before/after videos of a recovery run, all from the same OOD start."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from lamour_jax import render
from lamour_jax.envs import make
from lamour_jax.learner.evaluate import evaluate_and_trace
from lamour_jax.learner.policy import load
from lamour_jax.recovery.run import BEFORE_EPISODES, RecoverySpec


class Film(NamedTuple):
    name: str  # before, after or peak
    path: Path
    shows: str  # which episode it shows, for a person
    stats: dict[str, Any]  # the evaluation of the whole batch the episode belongs to


def write_videos(out: Path, spec: RecoverySpec, policy_dir: Path, after_member: int = 0,
                 peak_member: int | None = None, others: dict[str, Path] | None = None
                 ) -> list[Film]:
    """before.gif / after.gif (and peak.gif, given the seed of DIR/peak to film): the original,
    the retrained policy (seed `after_member` of DIR/best) and the best evaluation's, each in the
    first episode of the batch before.json was evaluated on, so all start from the same OOD
    state; `others` films more policies (seed 0 of each folder) as NAME.gif. Each film carries
    its batch's statistics, so a caller need not evaluate again."""
    best = load(out / "best")
    episode_length = best.meta.get("episode_length", 1000)
    env = make(spec.env, "ood", spec.mode, episode_length=episode_length, physics=spec.physics)
    films = [("before", load(policy_dir), spec.policy_member), ("after", best, after_member)]
    if peak_member is not None:
        films.append(("peak", load(out / "peak"), peak_member))
    films += [(name, load(folder), 0) for name, folder in (others or {}).items()]
    videos = []
    for name, policy, index in films:
        stats, trace = evaluate_and_trace(env, policy.act_fn(index), BEFORE_EPISODES,
                                          spec.seed + 1)
        path = render.save_episode_gif(env, trace.qpos, out / f"{name}.gif", stride=4)
        videos.append(Film(name, path, trace.describe(BEFORE_EPISODES), stats))
    return videos
