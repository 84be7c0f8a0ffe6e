"""Original policies shipped with the package (see README.md here for how each was trained)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped_policy(env_name: str) -> Path | None:
    """The folder of the shipped original policy for an env, or None if there is none."""
    path = Path(str(resources.files(__name__) / env_name))
    return path if (path / "policy.json").is_file() else None


def shipped_envs() -> list[str]:
    root = Path(str(resources.files(__name__)))
    return sorted(p.name for p in root.iterdir() if (p / "policy.json").is_file())
