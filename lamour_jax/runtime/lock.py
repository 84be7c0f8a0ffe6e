"""One process at a time per run folder.

Two commands writing one folder (a second `--resume DIR` started while the first still runs,
or two runs given the same `--out`) would interleave their checkpoints, truncate each other's
metrics.jsonl and overwrite config.json: what the first produced would be lost without a word.
So a command that writes a run folder holds an exclusive `flock` on `DIR/.lock` while it runs;
the kernel drops it when the process ends, however it ends, so a crashed or killed run never
leaves a stale lock behind. Reading a folder (`lamour evaluate`, plotting) takes no lock.

In a multi-process run (`jax.distributed`) all processes write the same folder by design:
process 0 holds the lock for them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import inspect
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from lamour_jax.runtime.distributed import is_primary

LOCK_NAME = ".lock"
RECORD_LOCK_NAME = ".record.lock"
PROBE_RETRIES, PROBE_WAIT_S = 20, 0.05
_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)

# Folders this process holds: a command that holds its folder and then calls run_training on
# it must not lock itself out (flock locks per open file, not per process).
_held: set[Path] = set()
_unsupported_warned = False

F = TypeVar("F", bound=Callable[..., Any])


class RunDirInUse(RuntimeError):
    """Another process is writing the run folder."""


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "an unknown process"


def _lock_waiting_out_probes(fd: int) -> None:
    """An exclusive lock on `fd`; a brief refusal is retried for a second, as it can be a
    `holder()` probe (`lamour runs`) rather than a writer."""
    for _ in range(PROBE_RETRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as err:
            if err.errno not in _BUSY:
                raise
            time.sleep(PROBE_WAIT_S)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def holder(run_dir: Path | str) -> str | None:
    """Who is writing `run_dir` now, as "pid N on HOST, `command`, since T"; None if nobody
    is (or the filesystem cannot tell). A shared lock held for an instant: it never blocks a
    writer, whose lock waits such probes out."""
    path = Path(run_dir) / LOCK_NAME
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as err:
            return _holder(fd) if err.errno in _BUSY else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def hold_run_dir(run_dir: Path | str) -> Iterator[None]:
    """Within the block this process alone writes `run_dir` (created if missing); RunDirInUse
    at once, naming the holder, when another process holds it."""
    global _unsupported_warned
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = run_dir.resolve()
    if not is_primary() or key in _held:  # process 0 holds it, or this block's caller does
        yield
        return
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            _lock_waiting_out_probes(fd)
        except OSError as err:
            if err.errno in _BUSY:
                raise RunDirInUse(
                    f"{run_dir} is in use by another process ({_holder(fd)}); two processes "
                    "writing one run folder would corrupt its checkpoints and metrics. Let it "
                    "finish (Ctrl-C there saves a checkpoint), then --resume it, or choose "
                    "another folder") from None
            # Some network filesystems refuse locks: run unguarded rather than not at all.
            if not _unsupported_warned:
                print(f"warning: {run_dir} cannot be locked ({err.strerror}); make sure no "
                      "other process writes it", file=sys.stderr)
                _unsupported_warned = True
        else:
            os.ftruncate(fd, 0)
            command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "?"
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, `{command}`, since "
                         f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        _held.add(key)
        try:
            yield
        finally:
            _held.discard(key)
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def record_update(run_dir: Path | str) -> Iterator[None]:
    """Within the block no other process runs such a block on `run_dir`: a read, change and
    rewrite of a record that several processes add to (the methods of one comparison run as
    separate processes, each naming itself in the comparison's record). Waits its turn; the
    blocks are short. Unguarded where the filesystem refuses locks."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / RECORD_LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def holds_run_dir(param: str) -> Callable[[F], F]:
    """Decorator: the call holds the run folder given as its argument `param`."""
    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with hold_run_dir(signature.bind(*args, **kwargs).arguments[param]):
                return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate
