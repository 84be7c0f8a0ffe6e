"""The one error a reward program can raise at transpile or trace time."""

from __future__ import annotations

import ast


class RewardCodeError(ValueError):
    """A reward program was rejected.

    The message names the line and the construct, and is written so that it can be sent back
    to the language model that wrote the program as a request for a fix.
    """

    def __init__(self, message: str, node: ast.AST | None = None, line: int | None = None) -> None:
        if line is None and node is not None:
            line = getattr(node, "lineno", None)
        self.line = line
        self.reason = message
        super().__init__(f"line {line}: {message}" if line else message)

    def at_line(self, line: int | None) -> RewardCodeError:
        """This error, placed at `line` (the same object, so a BudgetError stays one)."""
        self.line = line
        self.args = (f"line {line}: {self.reason}" if line else self.reason,)
        return self
