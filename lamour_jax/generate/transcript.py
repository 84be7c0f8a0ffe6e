"""`transcript.json`: every request and response of a generation run, rewritten after each
exchange so that a run that fails or is interrupted keeps everything it got."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from lamour_jax.generate.models import Reply


def redact_images(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with each data-URL image replaced by its size and hash (the image itself
    is `ood.png` in the run folder)."""
    out = copy.deepcopy(messages)
    for message in out:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            url = part.get("image_url", {}).get("url", "") if isinstance(part, dict) else ""
            if url.startswith("data:"):
                digest = hashlib.sha256(url.encode()).hexdigest()[:16]
                part["image_url"]["url"] = f"<data URL, {len(url)} chars, sha256 {digest}…>"
    return out


class Transcript:
    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = {**header, "exchanges": [], "outcome": "running"}
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.data, indent=2, ensure_ascii=False))
        tmp.replace(self.path)

    def exchange(self, *, stage: str, model: str, params: dict[str, Any],
                 messages: list[dict[str, Any]], reply: Reply | None = None,
                 error: str | None = None, attempts: list[dict[str, Any]] | None = None,
                 **extra: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "stage": stage, **extra, "model": model, "params": params,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "request": redact_images(messages),
        }
        if reply is not None:
            entry.update(response=reply.text, usage=reply.usage, cost_usd=reply.cost_usd,
                         seconds=round(reply.seconds, 3), cached=reply.cached,
                         failed_attempts=reply.attempts)
        if error is not None:
            entry.update(error=error, failed_attempts=attempts or [])
        self.data["exchanges"].append(entry)
        self._write()
        return entry

    def annotate(self, entry: dict[str, Any], **values: Any) -> None:
        entry.update(values)
        self._write()

    def finish(self, outcome: str, **values: Any) -> None:
        self.data.update(outcome=outcome, **values)
        self._write()
