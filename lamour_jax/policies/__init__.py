"""Original policies shipped with the package (see README.md here for how each was trained).

`<env>/` is the original an env's recovery starts from; `<env>-dropout/`, where present, is a
SeRO-ready original of the same env (dropout in the policy, MC-dropout variance maxima
recorded), which the sero baseline needs. `recovered/<env>/` is a policy retrained from the
env's original by `lamour recover` and shipped where the recovery takes longer than a demo
(`lamour demo` shows it beside its own short retraining).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DROPOUT_SUFFIX = "-dropout"


def _root() -> Path:
    return Path(str(resources.files(__name__)))


def shipped_policy(env_name: str, dropout: bool = False) -> Path | None:
    """The folder of the shipped original policy for an env (its SeRO-ready variant with
    `dropout`), or None if there is none."""
    path = _root() / (env_name + (DROPOUT_SUFFIX if dropout else ""))
    return path if (path / "policy.json").is_file() else None


def shipped_policies() -> list[str]:
    """Folder names of every shipped policy ("hopper", "hopper-dropout", ...)."""
    return sorted(p.name for p in _root().iterdir() if (p / "policy.json").is_file())


def shipped_recovered(env_name: str) -> Path | None:
    """The folder of the shipped recovered policy for an env, or None if there is none."""
    path = _root() / "recovered" / env_name
    return path if (path / "policy.json").is_file() else None
