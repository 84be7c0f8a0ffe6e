"""How uncertain does a SeRO-ready original look on OOD states, next to its own task's states?

SeRO (spec §5) rewards −U(s′) while invalid and weights consolidation by 1 − U(s), where U is
built from the MC-dropout variance of the original actor's action mean (30 masks), each
feature divided by the maximum recorded during the original's training. That only helps
recovery if OOD states have a *larger* dropout variance than the states the original was
trained on. This script measures it on four sets of states:

- normal/original: the Normal env under the original's deterministic policy (its own task);
- ood/starts: OOD start states from the sampler;
- ood/random: OOD episodes under uniform random actions, states before the first valid one
  (roughly what SeRO's fresh-std exploration sees while it has not got up);
- ood/original: OOD episodes under the original policy, states before the first valid one;
- recovering/...: OOD episodes under a policy retrained to get up (`--recovered`, default the
  shipped one for the env, if any), split by where each state lies on the way up: down and
  more than 20 steps before the first valid state, down within the last 20 steps before it,
  and up (from it on). SeRO's reward −U(s′) can only lead a learner up if U falls along that
  path, so the split shows whether it does; `sero_uncertainty_<env>_<tag>.png` draws U along
  the first episodes of it.

For each: the mean per-feature variance, and U (mean and 90th percentile) under two
normalisers: the maximum recorded in training (what `lamour recover --method sero` uses) and
the maximum over the normal/original states of the final policy.

    python benchmarks/sero_uncertainty.py [--env hopper] [--policy DIR] [--recovered DIR]

Writes benchmarks/results/sero_uncertainty_<env>_<tag>.{json,md}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lamour_jax.envs import make
from lamour_jax.learner.policy import load
from lamour_jax.policies import shipped_policy, shipped_recovered
from lamour_jax.recovery.objectives import SERO_SAMPLES, Original

RESULTS = Path(__file__).parent / "results"


def rollout(env, act, key, num_envs, steps):
    """`num_envs` episodes of `steps` steps under act(obs, key): observations [steps, envs, ...],
    each state's validity, and whether the episode still runs at that state (no earlier step
    ended it)."""

    @jax.jit
    def run(key):
        reset_key, step_key = jax.random.split(key)
        start = jax.vmap(env.reset)(jax.random.split(reset_key, num_envs))

        def body(state, k):
            nxt = jax.vmap(env.step)(state, act(state.obs, k))
            return nxt, (state.obs, nxt.done, state.info["valid"])

        return jax.lax.scan(body, start, jax.random.split(step_key, steps))[1]

    obs, done, valid = (np.asarray(x) for x in run(key))
    running = ~(np.cumsum(done, 0) - done > 0)
    return obs, valid.astype(bool), running


def episode_states(env, act, key, num_envs, steps, until_valid):
    """Observations of `num_envs` episodes of `steps` steps under act(obs, key), kept while the
    episode runs (and, with until_valid, until its first valid state)."""
    obs, valid, keep = rollout(env, act, key, num_envs, steps)
    if until_valid:
        keep &= np.cumsum(valid, 0) == 0
    return obs[keep]


NEAR_UP = 20  # steps before the first valid state that count as "about to get up"


def recovery_path(env, act, key, num_envs, steps):
    """States of OOD episodes under a recovering policy, by where they lie on the way up, and
    the observations of the whole rollout, whether each episode still runs at each of them and
    each episode's first valid step (or -1)."""
    obs, valid, running = rollout(env, act, key, num_envs, steps)
    t = np.arange(steps)[:, None]
    ever = valid.any(0)
    first_up = np.where(ever, valid.argmax(0), steps)
    sets = {
        f"recovering/down, >{NEAR_UP} steps before up": running & (t < first_up - NEAR_UP),
        f"recovering/down, last {NEAR_UP} steps before up":
            running & (t >= first_up - NEAR_UP) & (t < first_up) & ever,
        "recovering/up (from the first valid state)": running & (t >= first_up),
    }
    return ({name: obs[mask] for name, mask in sets.items()}, obs, running,
            np.where(ever, first_up, -1))


def dropout_variance(original: Original, obs: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """`Original.dropout_variance` (what U is built from) over a large set, in chunks."""
    var = jax.jit(original.dropout_variance)
    return np.concatenate([np.asarray(var(jnp.asarray(obs[i:i + chunk])))
                           for i in range(0, len(obs), chunk)])


PATH_EPISODES, PATH_STEPS = 16, 200


def _shown(folder) -> str:
    """A folder as the results name it: relative to the working directory where it is below."""
    path = Path(folder).resolve()
    return str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


def plot_path(path, env_name, out):
    """U(s) along the first episodes of the recovering rollout, each shifted so that its first
    valid state is at 0: whether SeRO's reward −U falls on the way up."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for u, up in zip(path["u"], path["first_valid_step"], strict=True):
        u = np.array([np.nan if x is None else x for x in u])
        if up >= 0:
            ax.plot(np.arange(len(u)) - up, u, lw=1, alpha=0.7)
    ax.axvline(0, color="k", ls="--", lw=1)
    ax.set_xlabel("steps from the first valid state (up)")
    ax.set_ylabel("SeRO's U(s)")
    ax.set_ylim(-0.02, 1.02)
    ups = sum(up >= 0 for up in path["first_valid_step"])
    ax.set_title(f"{env_name}: U of the SeRO-ready original along {ups} recovering episodes")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="hopper")
    parser.add_argument("--policy", type=Path, default=None,
                        help="a SeRO-ready run folder (default: the shipped dropout original)")
    parser.add_argument("--recovered", type=Path, default=None,
                        help="a policy retrained to get up, whose path U is measured along "
                             "(default: the shipped recovered policy for the env, if any)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="cpu")
    args = parser.parse_args()

    policy_dir = args.policy or shipped_policy(args.env, dropout=True)
    if policy_dir is None:
        parser.error(f"no shipped SeRO-ready original for {args.env}: pass --policy DIR")
    policy = load(policy_dir)
    if policy.meta["policy_dropout"] <= 0:
        parser.error(f"{policy_dir} has no dropout in its policy: SeRO needs one")
    original = Original.from_policy(policy)
    act = lambda obs, k: policy.fns.act(original.actor, original.obs_stats, obs)  # noqa: E731

    normal, ood = make(args.env, "normal"), make(args.env, "ood")
    keys = jax.random.split(jax.random.key(args.seed), 4)

    def random_act(obs, k):
        return jax.random.uniform(k, (obs.shape[0], ood.action_size), minval=-1, maxval=1)

    state_sets = {
        "normal/original": episode_states(normal, act, keys[0], 16, 1000, until_valid=False),
        "ood/starts": np.asarray(jax.vmap(ood.reset)(jax.random.split(keys[1], 256)).obs),
        "ood/random": episode_states(ood, random_act, keys[2], 64, 200, until_valid=True),
        "ood/original": episode_states(ood, act, keys[3], 16, 200, until_valid=True),
    }
    recovered_dir = args.recovered or shipped_recovered(args.env)
    path = None
    if recovered_dir is not None:
        recovered = load(recovered_dir).act_fn()
        sets, path_obs, running, first_up = recovery_path(
            ood, lambda obs, k: recovered(obs), jax.random.key(args.seed + 1), PATH_EPISODES,
            PATH_STEPS)
        state_sets.update(sets)
        u_path = np.asarray(jax.jit(original.uncertainty)(
            jnp.asarray(path_obs.reshape(-1, path_obs.shape[-1])))).reshape(path_obs.shape[:2])
        u_path = np.where(running, u_path, np.nan)  # nothing after an episode has ended
        path = {"policy": _shown(recovered_dir), "first_valid_step": first_up.tolist(),
                "u": [[None if np.isnan(u) else round(float(u), 4) for u in episode]
                      for episode in u_path.T]}
    variances = {name: dropout_variance(original, obs) for name, obs in state_sets.items()}
    normalisers = {"recorded in training": np.asarray(original.dropout_var_max),
                   "final policy, normal/original max": variances["normal/original"].max(0)}

    rows = []
    for name, var in variances.items():
        row = {"states": name, "count": int(len(var)),
               "mean_variance": var.mean(0).round(5).tolist()}
        for label, vmax in normalisers.items():
            u = np.asarray(dataclasses.replace(original, dropout_var_max=jnp.asarray(vmax))
                           .uncertainty(jnp.asarray(state_sets[name])))
            row[label] = {"u_mean": float(u.mean()), "u_p90": float(np.percentile(u, 90))}
        rows.append(row)

    shown = _shown(policy_dir)
    result = {"env": args.env, "policy": str(shown),
              "normalisers": {k: v.round(5).tolist() for k, v in normalisers.items()},
              "rows": rows, "recovery_path": path,
              "machine": platform.processor() or platform.machine(),
              "jax": jax.__version__, "device": str(jax.devices()[0])}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"sero_uncertainty_{args.env}_{args.tag}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2))

    labels = list(normalisers)
    lines = [f"# SeRO's uncertainty U(s) of the {args.env} dropout original, by state set",
             "", f"Policy `{shown}`; {SERO_SAMPLES} fixed dropout masks (as in training). "
             "Written by `python benchmarks/sero_uncertainty.py"
             + (f" --env {args.env}" if args.env != "hopper" else "") + "`.", "",
             "| states | count | mean dropout variance per feature | "
             + " | ".join(f"U mean / p90 ({label})" for label in labels) + " |",
             "|---|---:|---|" + "---:|" * len(labels)]
    for row in rows:
        lines.append(f"| {row['states']} | {row['count']} | "
                     + ", ".join(f"{v:.4f}" for v in row["mean_variance"]) + " | "
                     + " | ".join(f"{row[label]['u_mean']:.3f} / {row[label]['u_p90']:.3f}"
                                  for label in labels) + " |")
    lines += ["", "Normalisers (per-feature maximum variance):", ""]
    lines += [f"- {label}: " + ", ".join(f"{v:.4f}" for v in vmax)
              for label, vmax in normalisers.items()]
    if path is not None:
        lines += ["", f"Recovering states: {PATH_EPISODES} OOD episodes of {PATH_STEPS} steps "
                  f"under `{path['policy']}`; U along them: `{stem.name}.png`."]
        plot_path(path, args.env, stem.with_suffix(".png"))
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
