"""`lamour` command line.

Each command group is a module here that owns its arguments and its handler: `register(sub)`
adds its subcommands, each with `handler=` set. Parsing imports nothing heavy (JAX, MuJoCo,
flax load inside the handlers), so `lamour --help` and a bad flag answer at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from lamour_jax.cli import demo, envs, evaluate, recover, reward, runs, train
from lamour_jax.cli.errors import EXIT_FAILED, EXIT_USAGE, UserError
from lamour_jax.interrupt import Terminated, stop_on_sigterm

# In the order `lamour --help` lists them.
COMMAND_GROUPS = (envs, reward, train, evaluate, recover, demo, runs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lamour",
        description="LaMOuR on MuJoCo-MJX: recover RL policies from out-of-distribution states.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def _prepare_runtime(args: argparse.Namespace) -> None:
    """Process-wide settings, made before JAX starts a backend: the CPU device count, the
    compilation cache, and the settings read from the environment."""
    from lamour_jax import xla_cache, xla_runtime
    from lamour_jax.runtime.stall import timeout_from_env

    cpu_devices = getattr(args, "cpu_devices", None)
    if cpu_devices is not None:
        try:
            xla_runtime.use_cpu_devices(cpu_devices)
        except RuntimeError:  # only in-process callers that ran jax already reach this
            raise UserError("--cpu-devices must be set before JAX starts; this process has "
                            "run JAX already") from None
    xla_cache.enable()
    try:
        timeout_from_env()
    except ValueError as err:
        raise UserError(str(err)) from None


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()
    args = build_parser().parse_args(argv)
    try:
        _prepare_runtime(args)
        return int(args.handler(args) or 0)
    except UserError as err:
        print(f"lamour {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        print(f"lamour {args.command}: terminated (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"lamour {args.command}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:  # the reader went away (`lamour runs | head`): no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # for the exit flush
        return 128 + signal.SIGPIPE
    except OSError as err:  # a file-system fault (no space, no permission): the path, once
        print(f"lamour {args.command}: error: {err}", file=sys.stderr)
        return EXIT_FAILED
