"""Persistent XLA compilation cache. Compiling MJX programs on a CPU takes 10-60 s each; with
the cache a second run of the same command starts in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import jax

DEFAULT = Path.home() / ".cache" / "lamour-jax" / "xla"


def enable() -> Path | None:
    """Turn the cache on at $LAMOUR_XLA_CACHE (default ~/.cache/lamour-jax/xla); set the
    variable to `off` to disable. Returns the directory in use, or None."""
    setting = os.environ.get("LAMOUR_XLA_CACHE", str(DEFAULT))
    if setting.lower() in ("off", "0", "none", ""):
        return None
    path = Path(setting).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # read-only home on some clusters: just compile every time
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 2.0)
    return path
