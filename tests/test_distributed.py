"""Several processes, one training program: `lamour train --coordinator ...` on CPU (gloo).

Two processes with one CPU device each must train exactly what one process with two devices
trains, including across a resume, with process 0 alone writing the run's plain files.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from fast_compile import subprocess_xla_flags

from lamour_jax.learner.policy import load_policy

SETS = ["num_envs=8", "unroll_length=8", "num_minibatches=2", "update_epochs=1",
        "eval_every=128", "eval_envs=2"]
LAUNCH = "import sys; from lamour_jax.cli import main; sys.exit(main(sys.argv[1:]))"


def _train_args(out, steps, physics="mjx"):
    return ["train", "pointmass", "--steps", str(steps), "--out", str(out), "--no-progress",
            "--physics", physics, *[a for s in SETS for a in ("--set", s)]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(devices: int) -> dict:
    return {**os.environ, "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": subprocess_xla_flags(devices)}


def _two_processes(args):
    port = _free_port()
    procs = [subprocess.Popen(
        [sys.executable, "-c", LAUNCH, *args, "--coordinator", f"127.0.0.1:{port}",
         "--num-processes", "2", "--process-id", str(i)],
        env=_env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)]
    outputs = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        outputs.append((p.returncode, stdout, stderr))
    codes = [code for code, _, _ in outputs]
    # Both processes' ends: the one that failed first is not always the one that reports.
    assert codes == [0, 0], "\n".join(f"--- process {i} (exit {code}):\n{err[-2000:]}"
                                        for i, (code, _, err) in enumerate(outputs))
    return outputs


def _actor_leaves(run_dir):
    policy, _ = load_policy(run_dir)
    import jax
    return [np.asarray(x) for x in jax.tree.leaves(policy["actor"])]


# Native: each process's C engine steps the envs of its own device (EnvDevices.map).
@pytest.mark.parametrize("physics", ["mjx", "native"])
def test_two_processes_match_one_process_with_two_devices_across_a_resume(tmp_path, physics):
    single = tmp_path / "single"
    out = subprocess.run([sys.executable, "-c", LAUNCH, *_train_args(single, 512, physics)],
                         env=_env(2), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]

    multi = tmp_path / "multi"
    first = _two_processes(_train_args(multi, 256, physics))
    # Only process 0 reports (the table on stdout); both joined the same 2-device program.
    assert "| pointmass |" in first[0][1] and "| pointmass |" not in first[1][1]
    assert "2 device(s) in 2 process(es)" in first[0][2]
    _two_processes(["train", "pointmass", "--resume", str(multi), "--steps", "512",
                    "--no-progress"])

    # Both policies were saved across two devices; this process has one and loads them.
    rows = [json.loads(line) for line in (multi / "metrics.jsonl").read_text().splitlines()]
    assert [r["eval"] for r in rows] == [1, 2, 3, 4]  # one writer, no duplicate lines
    for a, b in zip(_actor_leaves(single), _actor_leaves(multi), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("flags, message", [
    (["--coordinator", "127.0.0.1:1"], "go together"),
    (["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2"],
     "must be in"),
])
def test_incomplete_multiprocess_flags_are_refused(tmp_path, flags, message):
    out = subprocess.run([sys.executable, "-c", LAUNCH, *_train_args(tmp_path, 128), *flags],
                         env=_env(1), capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and message in out.stderr, out.stderr[-2000:]
