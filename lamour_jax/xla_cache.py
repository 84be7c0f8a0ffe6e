"""Persistent XLA compilation cache. Compiling MJX programs on a CPU takes 10-60 s each; with
the cache a second run of the same command starts in seconds."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
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


class _CacheHits:
    """Counts the persistent cache's hits (a jax.monitoring event) while a program compiles."""

    def __init__(self) -> None:
        self.count = 0
        jax.monitoring.register_event_listener(self._on_event)

    def _on_event(self, event: str, **_: object) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            self.count += 1


_HITS: _CacheHits | None = None


def _times_file() -> Path:
    directory = jax.config.jax_compilation_cache_dir
    return Path(directory) / COMPILE_TIMES if directory else DEFAULT.parent / COMPILE_TIMES


COMPILE_TIMES = "compile_times.json"


def _read_times(path: Path) -> dict[str, float]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def compile_reported(lowered: jax.stages.Lowered, what: str,
                     log: Callable[[str], None]) -> tuple[jax.stages.Compiled, float]:
    """`lowered.compile()`, saying that it is compiling before (with how long this very
    program took to compile last time, if known) and how long it took after, and whether XLA's
    cache served it. Returns the compiled program and the seconds it took."""
    global _HITS
    _HITS = _HITS or _CacheHits()
    key = hashlib.sha256(lowered.as_text().encode()).hexdigest()[:24]
    path = _times_file()
    last = _read_times(path).get(key)
    log(f"compiling {what} ..." + ("" if last is None else
                                   f" (it took {last:.0f} s to compile last time)"))
    hits, t0 = _HITS.count, time.perf_counter()
    compiled = lowered.compile()
    seconds = time.perf_counter() - t0
    cached = _HITS.count > hits
    log(f"compiled in {seconds:.1f} s" + (" (from the XLA cache)" if cached else ""))
    if not cached:  # a cache hit says nothing about what compiling it costs
        times = _read_times(path)  # read now: other processes may have added theirs
        times[key] = round(seconds, 1)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # one per writer
            tmp.write_text(json.dumps(times))
            tmp.replace(path)
        except OSError:
            pass  # a read-only cache: the next run just does not know the time
    return compiled, seconds
