"""What a command ends with when it does not succeed, and the exit codes users script against."""

from __future__ import annotations

EXIT_FAILED = 1  # the job ran and failed: a rejected program, a failed check, generation
EXIT_USAGE = 2  # bad input (argparse's own code for a bad flag)
EXIT_DIVERGED = 3  # training stopped on NaN/inf; the last good checkpoint is kept


class UserError(Exception):
    """A problem with the user's input; printed as one line without a traceback, exit code 2."""
