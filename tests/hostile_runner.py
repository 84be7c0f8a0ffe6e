"""Child process for the hostile-corpus test: transpile each program under an address-space
limit and a per-program alarm, one JSON line per program on stdout.

    python tests/hostile_runner.py ADDRESS_SPACE_BYTES SECONDS CANARY_DIR FILE...
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import time
from pathlib import Path


class Deadline(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Deadline


def _peak_resident_bytes() -> int:
    """VmHWM of this process image. Not getrusage's ru_maxrss: on Linux that survives exec,
    so it would report the (pytest) parent's peak from before the fork."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> int:
    address_space, seconds, canary_dir = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    from lamour_jax.transpile import RewardCodeError, transpile

    signal.signal(signal.SIGALRM, _alarm)
    for name in sys.argv[4:]:
        path = Path(name)
        canary = canary_dir / f"{path.stem}.canary"
        source = path.read_bytes().replace(b"CANARY", str(canary).encode())
        start = time.perf_counter()
        signal.alarm(seconds)
        try:
            transpile(source, 17, 6)
            kind, message = "accepted", ""
        except RewardCodeError as err:
            kind, message = "RewardCodeError", str(err)
        except Deadline:
            kind, message = "timeout", f"still running after {seconds} s"
        except BaseException as err:  # noqa: BLE001 - what the test exists to catch
            kind, message = type(err).__name__, str(err)[:300]
        finally:
            signal.alarm(0)
        print(json.dumps({"name": path.stem, "kind": kind, "message": message,
                          "seconds": time.perf_counter() - start,
                          "canary": canary.exists()}), flush=True)
    print(json.dumps({"max_resident_bytes": _peak_resident_bytes()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
