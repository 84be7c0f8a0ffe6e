"""The stall watchdog: a training program that stops using the CPU ends the run with a clear
error and its last checkpoint intact, instead of hanging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from lamour_jax.cli import main
from lamour_jax.cli.errors import EXIT_DIVERGED
from lamour_jax.runtime.checkpoint import RunCheckpoints
from lamour_jax.runtime.loop import STALL_EXIT, write_stall_report
from lamour_jax.runtime.stall import StallWatchdog


def _watchdog(cpu_time, timeout_s=0.3):
    fired = threading.Event()
    dog = StallWatchdog(timeout_s, lambda seconds: fired.set(), cpu_time=cpu_time, poll_s=0.02)
    return dog, fired


def test_fires_only_while_watching_a_program_that_uses_no_cpu():
    frozen = lambda: 5.0  # noqa: E731
    dog, fired = _watchdog(frozen)
    with dog:
        time.sleep(0.6)  # idle between periods: not a stall
        assert not fired.is_set()
        with dog.watch():
            assert fired.wait(2.0)
    assert dog.fired


def test_a_busy_program_is_never_a_stall():
    start = time.monotonic()
    dog, fired = _watchdog(lambda: 10 * (time.monotonic() - start))  # 10 CPU-s per second
    with dog, dog.watch():
        time.sleep(1.0)
    assert not fired.is_set()


def test_timeout_zero_turns_it_off():
    dog, fired = _watchdog(lambda: 0.0, timeout_s=0.0)
    with dog, dog.watch():
        time.sleep(0.3)
    assert not dog.enabled and not fired.is_set()


def test_bad_timeout_setting_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setenv("LAMOUR_STALL_TIMEOUT", "5min")
    assert main(["envs"]) == 2
    assert "LAMOUR_STALL_TIMEOUT='5min'" in capsys.readouterr().err


# A real run whose second evaluation period blocks in a host callback (a sleep uses no CPU,
# as a deadlocked XLA runtime does); the watchdog must end it with exit status 3.
HANGING_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import jax
    from lamour_jax.envs import make
    from lamour_jax.learner import make_train
    from lamour_jax.params import train_config
    from lamour_jax.runtime.loop import run_training

    config = train_config("pointmass").override(
        ["num_envs=16", "unroll_length=8", "num_minibatches=2", "update_epochs=2",
         "eval_every=256", "eval_envs=4", "episode_length=20", "total_steps=768"])
    trainer = make_train(make("pointmass", episode_length=20), config)
    periods = []

    def block_in_period_two(_):
        periods.append(1)
        if len(periods) == 2:
            time.sleep(120)

    inner = trainer.run_chunk

    def run_chunk(state, hp=None):
        state, metrics = inner(state, hp)
        jax.debug.callback(block_in_period_two, state.iteration)
        return state, metrics

    trainer.run_chunk = run_chunk
    run_training(trainer, Path(sys.argv[1]), progress=False)
    print("finished")
""")


def test_stall_in_the_first_period_does_not_offer_a_resume(tmp_path):
    """Nothing was saved yet: --resume would find no checkpoint, so the message says to run the
    command again; after a finished period it names the checkpoint and --resume."""
    first = write_stall_report(tmp_path, period=1, saved_eval=0, seconds=300.0)
    assert "--resume" not in first and "no checkpoint to resume" in first
    assert json.loads((tmp_path / "stall_report.json").read_text())["last_good_checkpoint"] == 0
    later = write_stall_report(tmp_path, period=3, saved_eval=2, seconds=300.0)
    assert f"checkpoint 2 in {tmp_path / 'checkpoints'} is intact" in later
    assert f"--resume {tmp_path}" in later


def test_a_stalled_run_has_an_exit_status_of_its_own():
    assert STALL_EXIT not in (0, 1, 2, EXIT_DIVERGED)  # usage errors, NaN divergence


@pytest.mark.xdist_group("stall")
def test_stalled_run_exits_with_its_checkpoint_intact(tmp_path):
    script = tmp_path / "hang.py"
    script.write_text(HANGING_RUN)
    out = tmp_path / "run"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "LAMOUR_STALL_TIMEOUT": "4"})
    assert proc.returncode == STALL_EXIT, proc.stderr[-2000:]
    assert "finished" not in proc.stdout
    assert "stalled: evaluation period 2 has used no CPU" in proc.stderr
    assert f"--resume {out}" in proc.stderr
    assert time.monotonic() - started < 110  # ended by the watchdog, not by the sleep
    report = json.loads((out / "stall_report.json").read_text())
    assert report["eval"] == 2 and report["last_good_checkpoint"] == 1
    assert report["seconds_without_cpu"] >= 4
    checkpoints = RunCheckpoints(out)
    assert checkpoints.latest() == 1
    checkpoints.close()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


def test_progress_bar_clock_moves_while_one_long_call_runs():
    """An evaluation period is one compiled call; the bar is redrawn meanwhile (its elapsed time
    ticks), stops being redrawn when the call returns, and a disabled bar is left alone."""
    import io

    from tqdm import tqdm

    from lamour_jax.runtime.heartbeat import LOG_INTERVAL_S, BarHeartbeat, redraw_interval

    out = io.StringIO()
    bar = tqdm(total=10, file=out, mininterval=0)
    with BarHeartbeat(bar, 0.02):
        time.sleep(1.2)  # the long call
    redraws = out.getvalue().count("\r")
    assert redraws >= 5
    assert "00:01" in out.getvalue()  # the elapsed time shown moved past a second
    time.sleep(0.1)
    assert out.getvalue().count("\r") == redraws
    bar.close()

    quiet = tqdm(total=10, file=io.StringIO(), disable=True)
    with BarHeartbeat(quiet, 0.02) as beat:
        assert beat._thread is None
    assert redraw_interval(io.StringIO()) == LOG_INTERVAL_S  # a log file: once a minute
