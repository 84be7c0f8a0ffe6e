"""One process at a time per run folder: a second writer is refused before it touches anything,
and the lock goes with its holder, however the holder ends."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lamour_jax.runtime.lock import RunDirInUse, hold_run_dir

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
         "from lamour_jax.runtime.lock import hold_run_dir\n"
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


def test_lamour_runs_tells_running_finished_and_stopped_runs_apart(tmp_path):
    root = tmp_path / "runs"
    finished = root / "finished"
    sets = [a for s in ["num_envs=16", "unroll_length=8", "num_minibatches=2", "eval_every=256",
                        "eval_envs=4", "episode_length=20"] for a in ("--set", s)]
    out = subprocess.run([*LAMOUR, "train", "pointmass", "--steps", "512", "--seeds", "2",
                          "--out", str(finished), "--no-progress", *sets],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]

    def copy_with_budget(name: str, total_steps: int) -> Path:
        run = root / name
        shutil.copytree(finished, run)
        record = json.loads((run / "config.json").read_text())
        record["ppo"]["total_steps"] = total_steps  # as a run stopped short of its budget
        (run / "config.json").write_text(json.dumps(record))
        return run

    copy_with_budget("interrupted", 1024)
    diverged = copy_with_budget("diverged", 1024)
    (diverged / "nan_report.json").write_text(json.dumps({"eval": 3,
                                                          "last_good_checkpoint": 2}))
    running = copy_with_budget("running", 1024)
    with hold_run_dir(running):
        proc = subprocess.run([*LAMOUR, "runs", str(root), "--json"], capture_output=True,
                              text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    states = {Path(s["run"]).name: s for s in json.loads(proc.stdout)}
    assert sorted(states) == ["diverged", "finished", "interrupted", "running"]
    assert states["finished"]["state"] == "finished"
    assert states["interrupted"]["state"] == "stopped (--resume continues it)"
    assert states["diverged"]["state"].startswith("stopped: NaN/inf")
    assert states["running"]["state"].startswith(f"running (pid {os.getpid()} on ")
    rows = [json.loads(line) for line in (finished / "metrics.jsonl").read_text().splitlines()]
    last = [r["return_mean"] for r in rows if r["eval"] == 2]
    assert states["finished"]["return_mean"] == pytest.approx(sum(last) / 2)
    assert (states["finished"]["steps_done"], states["finished"]["steps_planned"],
            states["finished"]["policies"]) == (512, 512, 2)
    assert states["interrupted"]["steps_planned"] == 1024
    # The table, and a folder of exported policies (the shipped ones): no checkpoints.
    proc = subprocess.run([*LAMOUR, "runs", str(Path(__file__).parents[1] / "lamour_jax"
                                                / "policies")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "| hopper | train hopper | - / " in proc.stdout
    assert "policy only (no checkpoints)" in proc.stdout


def test_methods_of_one_comparison_started_together_all_enter_its_record(tmp_path, monkeypatch):
    """`lamour compare --methods M` run as separate processes on one --out: each adds its
    method to the comparison's record in turn, even when all read it before any has written
    (the read held open here to make them meet)."""
    import argparse
    import threading
    import time

    from lamour_jax.cli import recover
    from lamour_jax.policies import shipped_policy
    from lamour_jax.runtime.run_dir import RunDir

    read = recover._earlier_comparison

    def slow_read(*a):
        found = read(*a)
        time.sleep(0.3)  # every caller has read before the first one writes
        return found

    monkeypatch.setattr(recover, "_earlier_comparison", slow_read)
    args = argparse.Namespace(env="hopper", policy=shipped_policy("hopper"), policy_member=0,
                              steps=2048, seeds=1)
    out = tmp_path / "compare"
    threads = [threading.Thread(target=recover._register_methods, args=(args, out, [m]))
               for m in ("zero", "env", "lamour")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(RunDir(out).read("compare")["methods"]) == ["env", "lamour", "zero"]
