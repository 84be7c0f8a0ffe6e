"""One process at a time per run folder: a second writer is refused before it touches anything,
and the lock goes with its holder, however the holder ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lamour_jax.learner.run_lock import RunDirInUse, hold_run_dir

LAMOUR = [sys.executable, "-m", "lamour_jax.cli"]


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("command", [
    ["train", "pointmass", "--steps", "2048", "--no-progress", "--out"],
    ["demo", "--steps", "1024", "--no-video", "--no-progress", "--out"],
], ids=["train", "demo"])
def test_a_second_command_on_a_held_folder_is_refused_and_changes_nothing(tmp_path, command):
    run_dir = tmp_path / "run"
    (run_dir / "generate").mkdir(parents=True)  # what an earlier demo left, which it clears
    (run_dir / "generate" / "reward.py").write_text("# the user's\n")
    (run_dir / "metrics.jsonl").write_text('{"eval": 1}\n')
    with hold_run_dir(run_dir):
        before = _listing(run_dir)
        proc = subprocess.run([*LAMOUR, *command, str(run_dir)], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert "in use by another process" in proc.stderr
        assert f"pid {os.getpid()}" in proc.stderr  # who holds it, to find it
        assert _listing(run_dir) == before


def test_the_lock_is_exclusive_across_processes_and_dies_with_its_holder(tmp_path):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from lamour_jax.learner.run_lock import hold_run_dir\n"
         "with hold_run_dir(sys.argv[1]):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(300)\n", str(run_dir)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirInUse, match=f"pid {holder.pid} "), hold_run_dir(run_dir):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)  # no clean-up code runs: the kernel drops the lock
        holder.wait()
    with hold_run_dir(run_dir), hold_run_dir(run_dir):  # free again; nested holds are fine
        pass
