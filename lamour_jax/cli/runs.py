"""`runs`: what the run folders under a directory are doing."""

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
