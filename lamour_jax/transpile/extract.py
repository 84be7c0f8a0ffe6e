"""Pull the Python program out of a model reply: markdown fences and prose around it."""

from __future__ import annotations

import ast
import re

from lamour_jax.transpile.errors import RewardCodeError

_FENCE = re.compile(r"^```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
_CODE_START = re.compile(r"^(import |from |def |[A-Z_][A-Z0-9_]* *=|\"\"\"|''')")

MAX_SOURCE_CHARS = 100_000


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def extract_code(reply: str) -> str:
    """The program inside a reply.

    Fenced blocks tagged python/py (or untagged) are joined in order, since models sometimes
    split the two functions over two blocks. Without fences, prose before the first line that
    looks like code and after the last line that still parses is dropped.
    """
    if len(reply) > MAX_SOURCE_CHARS:
        raise RewardCodeError(f"the program is {len(reply)} characters long; the limit is "
                              f"{MAX_SOURCE_CHARS}")
    blocks = [body for lang, body in _FENCE.findall(reply)
              if lang.lower() in ("", "python", "py", "python3", "numpy")]
    if blocks:
        return "\n\n".join(block.strip("\n") for block in blocks).strip() + "\n"
    text = reply.replace("\r\n", "\n").strip()
    if _parses(text):
        return text + "\n"
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        raise RewardCodeError("no Python code found in the reply: write the program in one "
                              "```python fenced block")
    for end in range(len(lines), start, -1):
        candidate = "\n".join(lines[start:end])
        if _parses(candidate):
            return candidate.strip() + "\n"
    # Let the parser name the first syntax error.
    return "\n".join(lines[start:]) + "\n"
