"""Prompts and reference reward programs (installed as `lamour_jax.rewards`)."""

from __future__ import annotations

from importlib import resources

from lamour_jax.envs import ENV_NAMES, check_name


def reference_source(env_name: str) -> str:
    """The hand-written reference reward program for an env (what `--llm offline` uses)."""
    check_name("env", env_name, ENV_NAMES)
    return (resources.files(__name__) / "reference" / f"{env_name}.py").read_text()
