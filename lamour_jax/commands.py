"""Implementations of the `lamour` subcommands (parsing lives in cli.py)."""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import numpy as np

from lamour_jax import render
from lamour_jax.envs import ENV_NAMES, Env, OODSampler, make, robot
from lamour_jax.envs.rollout import rollout


class UserError(Exception):
    """A problem with the user's input; printed without a traceback, exit code 2."""


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_envs(args: argparse.Namespace) -> int:
    rows = []
    for name in ENV_NAMES:
        env = make(name)
        rows.append({"env": name, "obs_dim": env.observation_size, "action_dim": env.action_size,
                     "dt": env.dt, "episode_length": env.episode_length,
                     "task": env.robot.task})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'env':<12} {'obs_dim':>7} {'action_dim':>10} {'dt (s)':>7} {'episode':>7}  task")
        for r in rows:
            print(f"{r['env']:<12} {r['obs_dim']:>7} {r['action_dim']:>10} {r['dt']:>7.3f} "
                  f"{r['episode_length']:>7}  {r['task']}")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    print(make(args.env).describe())
    return 0


def sample_states(name: str, mode: str, n: int, seed: int, normal: bool = False
                  ) -> dict[str, np.ndarray]:
    """Start states with their observations and the env's validity test on each."""
    r = robot(name)
    key = jax.random.key(seed)
    if normal:
        qpos, qvel = jax.jit(jax.vmap(r.normal_state))(jax.random.split(key, n))
    else:
        qpos, qvel = jax.jit(OODSampler(r, mode).sample, static_argnums=1)(key, n)

    @jax.jit
    def observe(q: jax.Array, v: jax.Array) -> tuple[jax.Array, jax.Array]:
        data = jax.vmap(r.make_data)(q, v)
        return jax.vmap(r.observe)(data), jax.vmap(r.is_valid)(q, v)

    obs, valid = observe(qpos, qvel)
    return {"qpos": np.asarray(qpos), "qvel": np.asarray(qvel), "obs": np.asarray(obs),
            "valid": np.asarray(valid, bool)}


def cmd_sample(args: argparse.Namespace) -> int:
    if args.out.suffix != ".npz":
        raise UserError(f"--out must end in .npz, got {args.out}")
    kind = "normal" if args.normal else f"ood/{args.mode}"
    t0 = time.perf_counter()
    _progress(f"sampling {args.n} {kind} states of {args.env} (seed {args.seed}) ...")
    arrays = sample_states(args.env, args.mode, args.n, args.seed, args.normal)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **arrays)
    print(f"{args.out}: {args.n} {kind} states, obs_dim {arrays['obs'].shape[1]}, "
          f"valid {int(arrays['valid'].sum())}/{args.n}, {time.perf_counter() - t0:.1f} s")
    return 0


def settle(env: Env, qpos: jax.Array, qvel: jax.Array, seconds: float) -> jax.Array:
    """qpos after `seconds` of zero-action simulation (one env)."""
    steps = round(seconds / env.dt)
    if steps <= 0:
        return qpos
    state = jax.vmap(env.reset_to)(jax.random.split(jax.random.key(0), 1), qpos[None], qvel[None])
    final, _ = rollout(env, state, jax.random.key(0), steps, random=False)
    return final.data.qpos[0]


def cmd_render(args: argparse.Namespace) -> int:
    env = make(args.env, args.variant, args.mode, bank_size=None)
    state = jax.jit(env.reset)(jax.random.key(args.seed))
    if args.steps > 0:
        if args.out.suffix.lower() != ".gif":
            raise UserError("--steps renders a rollout: --out must end in .gif")
        batch = jax.tree.map(lambda x: x[None], state)
        _progress(f"rolling out {args.steps} random-action steps ...")
        _, trace = rollout(env, batch, jax.random.key(args.seed + 1), args.steps)
        qpos = np.concatenate([np.asarray(state.data.qpos)[None], np.asarray(trace["qpos"][:, 0])])
        frames = render.render_frames(env, qpos, args.width, args.height)
        path = render.save_gif(frames, args.out, fps=min(render.MAX_GIF_FPS, 1.0 / env.dt))
    else:
        if args.out.suffix.lower() != ".png":
            raise UserError("--out must end in .png (or use --steps N with a .gif)")
        qpos = settle(env, state.data.qpos, state.data.qvel, args.settle)
        frame = render.render_frames(env, [np.asarray(qpos)], args.width, args.height)[0]
        path = render.save_png(frame, args.out)
    valid = bool(state.info["valid"])
    print(f"{path}: {args.env} {args.variant} start (valid by the env's test: {valid})")
    return 0


def cmd_reward(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from lamour_jax.reward_check import check_program
    from lamour_jax.transpile import RewardCodeError
    from lamour_jax.transpile.guard import transpile_guarded

    if not args.file.is_file():
        raise UserError(f"no such file: {args.file}")
    env = make(args.env)
    try:
        program = transpile_guarded(args.file.read_bytes(), env.observation_size,
                                    env.action_size, seconds=args.guard_seconds)
    except RewardCodeError as err:
        print(f"{args.file}: rejected: {err}", file=sys.stderr)
        return 1
    _progress(f"{args.file}: transpiled (sha256 {program.sha256[:12]}); evaluating on "
              f"{args.n} OOD ({args.mode}) and {args.n} Normal states ...")
    report = check_program(program, args.env, args.n, args.seed, args.mode)
    if args.json:
        print(json.dumps({**asdict(report), "rises": report.rises, "passed": report.passed},
                         indent=2))
    else:
        print(report.table())
    return 0 if report.passed else 1


def cmd_tour(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.envs.split(",") if n.strip()]
    for n in names:
        if n not in ENV_NAMES:
            raise UserError(f"unknown env {n!r}; valid: {', '.join(ENV_NAMES)}")
    from lamour_jax.tour import run_tour

    return run_tour(names, args.n, args.out)


def cmd_demo(args: argparse.Namespace) -> int:
    from lamour_jax.demo import run_demo
    from lamour_jax.learner.run_lock import RunDirInUse

    try:
        return run_demo(args.env, args.steps, args.out, args.set or [],
                        progress=not args.no_progress, video=not args.no_video)
    except (ValueError, RunDirInUse) as err:
        raise UserError(str(err)) from None


def cmd_runs(args: argparse.Namespace) -> int:
    from lamour_jax.run_status import find_runs, run_status, status_table

    if not args.root.is_dir():
        raise UserError(f"{args.root} is not a folder (runs go to runs/ unless --out says "
                        "otherwise)")
    statuses = [run_status(run) for run in find_runs(args.root)]
    if args.json:
        print(json.dumps(statuses, indent=2))
    elif statuses:
        print(status_table(statuses, args.root))
    else:
        print(f"no run folders under {args.root}")
    return 0
