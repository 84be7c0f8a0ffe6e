"""Looking at the envs: `envs`, `describe`, `sample`, `render`, `tour`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lamour_jax.cli import args as a
from lamour_jax.cli.errors import UserError
from lamour_jax.envs import ENV_NAMES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("envs", help="list the environments with their sizes and timing")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_envs)

    p = sub.add_parser("describe", help="print the LLM-facing description of an env's "
                                        "state and action vectors (Markdown)")
    a.env(p)
    p.set_defaults(handler=cmd_describe)

    p = sub.add_parser("sample", help="sample OOD (or Normal) start states to an .npz file")
    a.env(p)
    a.mode(p)
    p.add_argument("--normal", action="store_true",
                   help="sample Normal-env starts instead of OOD states")
    p.add_argument("--n", type=a.positive, default=16, help="number of states (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="output .npz: qpos, qvel, obs, valid")
    a.physics(p)
    p.set_defaults(handler=cmd_sample)

    p = sub.add_parser("render", help="render a start state (PNG) or a random-action "
                                      "rollout (GIF) from the env's fixed camera")
    a.env(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--ood", dest="variant", action="store_const", const="ood",
                       help="an OOD start state (default)")
    group.add_argument("--normal", dest="variant", action="store_const", const="normal",
                       help="a Normal start state")
    p.set_defaults(variant="ood", handler=cmd_render)
    a.mode(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--settle", type=float, default=0.0, metavar="SECONDS",
                   help="simulate passively (zero action) this long before the picture")
    p.add_argument("--steps", type=a.non_negative, default=0,
                   help="render a GIF of this many random-action steps instead of a PNG")
    p.add_argument("--width", type=a.positive, default=640)
    p.add_argument("--height", type=a.positive, default=480)
    p.add_argument("--out", type=Path, required=True, help="output .png (or .gif with --steps)")
    a.physics(p)

    p = sub.add_parser("tour", help="a look at every env: sample and render OOD states, "
                                    "random-policy recovery, one summary table")
    p.add_argument("--out", type=Path, default=Path("out/tour"))
    p.add_argument("--n", type=a.positive, default=8, help="OOD states per env and mode")
    p.add_argument("--envs", default=",".join(ENV_NAMES),
                   help="comma-separated subset of envs (default: all)")
    a.physics(p)
    p.set_defaults(handler=cmd_tour)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_envs(args: argparse.Namespace) -> int:
    from lamour_jax.envs import make

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
    from lamour_jax.envs import make

    print(make(args.env).describe())
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from lamour_jax.envs.starts import sample_states

    if args.out.suffix != ".npz":
        raise UserError(f"--out must end in .npz, got {args.out}")
    kind = "normal" if args.normal else f"ood/{args.mode}"
    t0 = time.perf_counter()
    _progress(f"sampling {args.n} {kind} states of {args.env} (seed {args.seed}) ...")
    arrays = sample_states(args.env, args.mode, args.n, args.seed, args.normal,
                           a.chosen_physics(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **arrays)
    print(f"{args.out}: {args.n} {kind} states, obs_dim {arrays['obs'].shape[1]}, "
          f"valid {int(arrays['valid'].sum())}/{args.n}, {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    from lamour_jax import render
    from lamour_jax.envs import make
    from lamour_jax.envs.rollout import rollout
    from lamour_jax.envs.starts import settle

    env = make(args.env, args.variant, args.mode, bank_size=None,
               physics=a.chosen_physics(args))
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


def cmd_tour(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.envs.split(",") if n.strip()]
    for n in names:
        if n not in ENV_NAMES:
            raise UserError(f"unknown env {n!r}; valid: {', '.join(ENV_NAMES)}")
    from lamour_jax.tour import run_tour

    return run_tour(names, args.n, args.out, a.chosen_physics(args))
