"""Argument types and the arguments several commands share. Light: no JAX here."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lamour_jax.cli.errors import UserError
from lamour_jax.envs import ALL_ENV_NAMES, ENV_NAMES, MODES, PHYSICS, UNRECORDED_PHYSICS
from lamour_jax.transpile.limits import LIMITS
from lamour_jax.xla_runtime import available_cores


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def member_or_all(text: str) -> int | str:
    if text == "all":
        return text
    try:
        return non_negative(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an index >= 0 or 'all', got {text!r}"
                                         ) from None


def _fraction(text: str, closed: bool) -> float:
    interval = "[0, 1]" if closed else "[0, 1)"
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0.0 <= value <= 1.0 and (closed or value < 1.0)):
        raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {text!r}")
    return value


def share(text: str) -> float:
    """A fraction in [0, 1)."""
    return _fraction(text, closed=False)


def share_inclusive(text: str) -> float:
    """A fraction in [0, 1]."""
    return _fraction(text, closed=True)


def seconds(text: str) -> float:
    value = float(text)
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def cpu_devices(text: str) -> int:
    if text == "auto":
        return available_cores()
    try:
        return positive(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count >= 1 or 'auto', got {text!r}") from None


def env(p: argparse.ArgumentParser, names: tuple[str, ...] = ENV_NAMES) -> None:
    """The positional ENV; `names`: the paper's envs, or ALL_ENV_NAMES where pointmass fits."""
    p.add_argument("env", choices=names, metavar="ENV", help=f"environment: {', '.join(names)}")


def any_env(p: argparse.ArgumentParser) -> None:
    env(p, ALL_ENV_NAMES)


def mode(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=MODES, default="paper",
                   help="OOD sampler: 'paper' (the paper's pose + noise) or 'diverse' "
                        "(random fallen states settled by passive simulation). Default: paper")


def tensorboard(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tensorboard", action="store_true",
                   help="also write the metrics as TensorBoard event files under "
                        "DIR/tensorboard/ (one run per seed; a resume keeps writing them)")


def guard(p: argparse.ArgumentParser) -> None:
    p.add_argument("--guard-seconds", type=seconds, default=LIMITS.guard_seconds,
                   metavar="S", help="wall-clock limit for transpiling and first compiling a "
                   f"program, in a child process (default {LIMITS.guard_seconds:g}; memory "
                   f"limit {LIMITS.guard_memory_bytes / 2**30:g} GiB)")


def cpu_devices_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cpu-devices", type=cpu_devices, metavar="N|auto",
                   help="on the CPU backend, split the CPU into N JAX devices and shard the "
                        "env batch over them ('auto': one per core); about 1.6x faster MJX "
                        "training on 2 cores (native physics uses every core from one device "
                        "already). Default 1 (JAX's), what the shipped results were measured "
                        "on; other counts train along another float path. No effect on a GPU")


DEFAULT_PHYSICS_HELP = "default: native where JAX runs on the CPU, mjx on a GPU/TPU"


def physics(p: argparse.ArgumentParser, default: str = DEFAULT_PHYSICS_HELP) -> None:
    p.add_argument("--physics", choices=PHYSICS,
                   help="the engine that steps the physics: 'mjx' (JAX; for GPUs/TPUs) or "
                        "'native' (MuJoCo's C engine, called from inside the same compiled "
                        f"program; much faster on CPUs). {default[0].upper()}{default[1:]}")


def chosen_physics(args: argparse.Namespace) -> str:
    """The engine asked for with --physics, else the backend's default."""
    from lamour_jax.envs import default_physics

    if args.physics == "native":
        from lamour_jax.envs.native import batch_module

        try:
            batch_module()
        except ImportError as err:  # its message names what is missing
            raise UserError(str(err)) from None
    return args.physics or default_physics()


def recorded_physics(record: Any) -> str:
    """The engine a run record or policy file names (runs from before the choice: MJX)."""
    return record.get("physics", UNRECORDED_PHYSICS)


def keep_physics(run: object, recorded: str, asked: str | None) -> None:
    """A resume continues on the engine its run started on: UserError for another one."""
    if asked is not None and asked != recorded:
        raise UserError(f"{run} trains on --physics {recorded}; a resume continues on the same "
                        f"engine (the two do not step bit for bit alike): start a new run for "
                        f"--physics {asked}")


def no_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


class Renamed(argparse.Action):
    """An option that also answers to its older name (`old`), saying which name replaces it,
    so that scripts written against the old one keep working."""

    def __init__(self, option_strings: list[str], dest: str, old: str, **kwargs: Any) -> None:
        super().__init__([*option_strings, old], dest, **kwargs)
        self.old = old

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if option_string == self.old:
            print(f"note: {self.old} is now called {self.option_strings[0]}; the old name will "
                  "go in a later release", file=sys.stderr)
        setattr(namespace, self.dest, values)
