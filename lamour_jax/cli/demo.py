"""`demo`: the main job end to end on a CPU (the library side is lamour_jax/demo.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lamour_jax.cli import args as a
from lamour_jax.cli.errors import UserError
from lamour_jax.params import DEMO


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job end to end on a CPU: generate a reward "
                                    "(offline), retrain the shipped original policy with "
                                    "LaMOuR, print the before/after table")
    p.add_argument("--env", default=DEMO.env, choices=(DEMO.env,),
                   help="an env with a shipped original policy (default hopper)")
    p.add_argument("--steps", type=a.positive, default=DEMO.steps,
                   help=f"retraining env steps (default {DEMO.steps:,})")
    p.add_argument("--out", type=Path, default=Path("out/demo"))
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
        return run_demo(args.env, args.steps, args.out, args.set or [],
                        progress=not args.no_progress, video=not args.no_video,
                        physics=a.chosen_physics(args))
    except (ValueError, RunDirInUse) as err:
        raise UserError(str(err)) from None
