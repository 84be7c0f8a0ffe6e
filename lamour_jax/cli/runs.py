"""`runs`: what the run folders under a directory are doing; `export`: one policy of a run as a
folder of its own."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lamour_jax.cli.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="the run folders under a directory: what each trains, "
                                    "how far it got, running / finished / stopped")
    p.add_argument("root", type=Path, nargs="?", default=Path("runs"), metavar="DIR",
                   help="where to look, subfolders included (default: runs)")
    p.add_argument("--json", action="store_true", help="print the states as JSON")
    p.set_defaults(handler=cmd_runs)

    p = sub.add_parser("export", help="copy one policy of a multi-seed or sweep run into a "
                                      "policy folder of its own (to ship it, or to use it "
                                      "without --policy-member)")
    p.add_argument("run_dir", type=Path, metavar="DIR",
                   help="a `lamour train` or `lamour recover` run directory")
    p.add_argument("--member", type=int, required=True, metavar="I",
                   help="which policy (the index `lamour train` ranks a sweep's by, or a seed)")
    p.add_argument("--out", type=Path, required=True, help="a new or empty folder")
    p.set_defaults(handler=cmd_export)


def cmd_runs(args: argparse.Namespace) -> int:
    from lamour_jax.runtime.status import find_runs, run_status, status_table

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


def cmd_export(args: argparse.Namespace) -> int:
    from lamour_jax.learner.sweep import format_point
    from lamour_jax.runtime.checkpoint import CheckpointError, export_member

    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise UserError(f"--out {args.out} exists and is not an empty folder: name a new one")
    try:
        meta = export_member(args.run_dir, args.member, args.out)
    except (CheckpointError, ValueError) as err:
        raise UserError(str(err)) from None
    point = f" ({format_point(meta['sweep'][0])})" if meta.get("sweep") else ""
    print(f"policy {args.member} of {args.run_dir}{point} -> {args.out}")
    return 0
