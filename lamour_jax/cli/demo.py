"""`demo`: the main job end to end on a CPU (the library side is lamour_jax/demo.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lamour_jax.cli import args as a
from lamour_jax.cli.errors import UserError
from lamour_jax.params import DEMO, DEMOS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job end to end on a CPU: generate a reward "
                                    "(offline), retrain the shipped original policy with "
                                    "LaMOuR, print the before/after table")
    p.add_argument("--env", default=DEMO.env, choices=tuple(DEMOS),
                   help=f"an env with a shipped original policy (default {DEMO.env})")
    defaults = ", ".join(f"{name} {d.steps:,}" for name, d in DEMOS.items())
    p.add_argument("--steps", type=a.positive,
                   help=f"retraining env steps per seed (default: {defaults})")
    p.add_argument("--out", type=Path,
                   help=f"output folder (default out/demo for {DEMO.env}, out/demo-ENV else)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a PPO config field of the retraining (repeatable)")
    a.no_progress(p)
    p.add_argument("--no-video", action="store_true", help="skip the before/after GIFs")
    a.physics(p)
    a.cpu_devices_option(p)
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from lamour_jax.demo import run_demo
    from lamour_jax.runtime.lock import RunDirInUse

    try:
        out = args.out or Path("out/demo" if args.env == DEMO.env else f"out/demo-{args.env}")
        return run_demo(args.env, args.steps or DEMOS[args.env].steps, out, args.set or [],
                        progress=not args.no_progress, video=not args.no_video,
                        physics=a.chosen_physics(args))
    except (ValueError, RunDirInUse) as err:
        raise UserError(str(err)) from None
