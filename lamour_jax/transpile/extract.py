"""Pull the Python program out of a model reply (markdown fences, prose around it) and parse
it; every way this can fail is a one-line RewardCodeError with a line number."""

from __future__ import annotations

import ast
import re

from lamour_jax.transpile.budget import LIMITS, BudgetError
from lamour_jax.transpile.errors import RewardCodeError

_FENCE = re.compile(r"^```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
_CODE_START = re.compile(r"^(import |from |def |[A-Z_][A-Z0-9_]* *=|\"\"\"|''')")
# Control characters other than tab, newline, carriage return and form feed: binary data.
_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_TRAILING_PROSE_TRIES = 3  # cuts of trailing prose after the last line that parses

MAX_SOURCE_CHARS = LIMITS.source_chars


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def decode_source(source: str | bytes) -> str:
    """The reply as text: UTF-8 (a byte-order mark is dropped), no binary data, bounded."""
    if isinstance(source, bytes | bytearray):
        try:
            source = bytes(source).decode("utf-8")
        except UnicodeDecodeError as exc:
            line = bytes(source)[:exc.start].count(b"\n") + 1
            raise RewardCodeError(f"the program is not UTF-8 text (byte 0x{source[exc.start]:02x} "
                                  f"at offset {exc.start})", line=line) from None
    if not isinstance(source, str):
        raise RewardCodeError(f"a program must be text, got a {type(source).__name__}")
    source = source.removeprefix("\ufeff")
    if len(source) > MAX_SOURCE_CHARS:
        raise BudgetError("source_chars", f"the program is {len(source):,} characters long")
    for pattern, what in ((_BINARY, "binary data (control character"),
                          (_SURROGATE, "an invalid character (lone surrogate")):
        found = pattern.search(source)
        if found:
            raise RewardCodeError(f"the program contains {what} U+{ord(found[0]):04X}); a "
                                  "reward program is plain text",
                                  line=_line_of(source, found.start()))
    return source


def _deepest_line(code: str) -> int:
    """The line where a parser most likely ran out of stack: the deepest bracket nesting,
    then the longest line (operator chains and unary runs need no brackets)."""
    depth, scores = 0, []
    for text in code.split("\n"):
        deepest = depth
        for char in text:
            if char in "([{":
                depth += 1
                deepest = max(deepest, depth)
            elif char in ")]}":
                depth -= 1
        scores.append((deepest, len(text)))
    return max(range(len(scores)), key=lambda i: scores[i]) + 1


def parse(code: str) -> ast.Module:
    """`ast.parse` whose failures are RewardCodeErrors with a line."""
    try:
        return ast.parse(code)
    except SyntaxError as exc:
        message = str(exc.msg).split("\n")[0]
        if message.startswith(("too many nested", "too many levels")):  # CPython's own limits
            raise BudgetError("syntax_depth", f"{message}; split it into several statements",
                              line=exc.lineno) from None
        raise RewardCodeError(f"syntax error: {message}", line=exc.lineno) from None
    except (RecursionError, MemoryError):
        # Very long operator chains (`1+1+...`) or unary runs (`----x`) exhaust the parser.
        line = _deepest_line(code)
        raise BudgetError("syntax_depth", "an expression too deeply nested or too long for "
                          "the parser; split it into several statements", line=line) from None


def _syntax_error_line(text: str) -> int | None:
    """The line of the first syntax error, 0 if `text` parses (other failures: None)."""
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return exc.lineno
    except (RecursionError, MemoryError, ValueError):
        return None
    return 0


def _without_trailing_prose(lines: list[str]) -> list[str]:
    """Drop prose after the program: only unindented non-code lines at the end, and only a
    few times, so a syntax error inside the program is reported, never cut away."""
    for _ in range(_TRAILING_PROSE_TRIES):
        where = _syntax_error_line("\n".join(lines))
        if not where:
            break
        tail = lines[where - 1:]
        if not tail or _CODE_START.match(tail[0]) or any(
                line[:1].isspace() for line in tail if line.strip()):
            break
        lines = lines[:where - 1]
    return lines


def extract_code(reply: str | bytes) -> str:
    """The program inside a reply.

    Fenced blocks tagged python/py (or untagged) are joined in order, since models sometimes
    split the two functions over two blocks. Without fences, prose before the first line that
    looks like code is dropped, and so is unindented prose after the program.
    """
    reply = decode_source(reply)
    blocks = [body for lang, body in _FENCE.findall(reply)
              if lang.lower() in ("", "python", "py", "python3", "numpy")]
    if blocks:
        return "\n\n".join(block.strip("\n") for block in blocks).strip() + "\n"
    text = reply.replace("\r\n", "\n").strip()
    if _syntax_error_line(text) == 0:
        return text + "\n"
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        raise RewardCodeError("no Python code found in the reply: write the program in one "
                              "```python fenced block")
    return "\n".join(_without_trailing_prose(lines[start:])).strip() + "\n"
