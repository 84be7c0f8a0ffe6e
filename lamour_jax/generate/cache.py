"""Disk cache of model replies, keyed by everything that determines a reply: the model, the
server, the messages (image bytes included), the sampling parameters and the sample index.
A rerun of the same generation is then free and returns the same programs."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def default_cache_dir() -> Path:
    """$LAMOUR_LLM_CACHE, else $XDG_CACHE_HOME/lamour-jax/llm, else ~/.cache/lamour-jax/llm."""
    if "LAMOUR_LLM_CACHE" in os.environ:
        return Path(os.environ["LAMOUR_LLM_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "lamour-jax" / "llm"


def request_key(**parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class ReplyCache:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None  # missing or half-written: ask the model again

    def put(self, key: str, record: dict[str, Any]) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(record))
            tmp.replace(path)  # atomic: a crash never leaves a truncated entry
        except OSError:
            pass  # a read-only cache costs money on the next run, not correctness
