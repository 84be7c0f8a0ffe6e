"""The XLA:CPU setting that keeps the ant's large programs from deadlocking (xla_runtime.py)."""

import os
import subprocess
import sys
import textwrap

import pytest

from lamour_jax.xla_runtime import SCHEDULER_FLAG, avoid_cpu_deadlock, deadlock_avoided


def test_the_scheduler_flag_is_added_and_a_users_own_setting_kept():
    environ = {}
    avoid_cpu_deadlock(environ)
    assert environ["XLA_FLAGS"] == f"{SCHEDULER_FLAG}=false"
    assert deadlock_avoided(environ)

    environ = {"XLA_FLAGS": "--xla_backend_optimization_level=0"}
    avoid_cpu_deadlock(environ)
    assert environ["XLA_FLAGS"] == f"--xla_backend_optimization_level=0 {SCHEDULER_FLAG}=false"

    mine = {"XLA_FLAGS": f"{SCHEDULER_FLAG}=true"}
    avoid_cpu_deadlock(mine)
    assert mine["XLA_FLAGS"] == f"{SCHEDULER_FLAG}=true"
    assert not deadlock_avoided(mine)
    # XLA keeps the last setting of a repeated flag.
    assert deadlock_avoided({"XLA_FLAGS": f"{SCHEDULER_FLAG}=true {SCHEDULER_FLAG}=0"})
    assert not deadlock_avoided({"XLA_FLAGS": f"{SCHEDULER_FLAG}=false {SCHEDULER_FLAG}=true"})
    assert not deadlock_avoided({})


def test_importing_the_package_sets_it_before_jax_starts():
    assert deadlock_avoided(os.environ)  # this process: conftest imported lamour_jax
    clean = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", "import os, lamour_jax; "
                          "print(os.environ['XLA_FLAGS'])"],
                         env=clean, capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == f"{SCHEDULER_FLAG}=false"


def test_ant_hang_warning_only_where_the_deadlock_is_not_avoided():
    from lamour_jax.envs import make
    from lamour_jax.runtime.stall import cpu_hang_warning

    ant, hopper = make("ant"), make("hopper")
    # With the scheduler back on, training and recovery programs hung at 256 envs and ran
    # through at 128.
    for job in ("train", "recover"):
        warning = cpu_hang_warning(ant, 256, "cpu", job=job, deadlock_avoided=False)
        assert "--num-envs 128" in warning and SCHEDULER_FLAG in warning
        assert cpu_hang_warning(ant, 128, "cpu", job=job, deadlock_avoided=False) is None
        assert cpu_hang_warning(ant, 4096, "cpu", job=job, deadlock_avoided=True) is None
    assert cpu_hang_warning(ant, 4096, "gpu", deadlock_avoided=False) is None
    assert cpu_hang_warning(hopper, 1024, "cpu", deadlock_avoided=False) is None
    assert cpu_hang_warning(ant, 1024, "cpu") is None  # this process avoids it


SETTLE_BANK = textwrap.dedent("""
    import jax
    from lamour_jax.envs import OODSampler, robot
    sampler = OODSampler(robot("ant"), "diverse")
    qpos, qvel = jax.jit(sampler.sample, static_argnums=1)(jax.random.key(0), 128)
    print(qpos.shape, bool(jax.numpy.isfinite(qpos).all()))
""")


@pytest.mark.slow
def test_settling_an_ant_diverse_bank_runs_to_the_end():
    """384 ant candidates dropped and settled in one program: with XLA's default CPU
    scheduler this deadlocked every time on a 2-core machine (no CPU use, no result); with
    the package's setting it finishes in seconds. Run apart, with full backend optimisation
    (as users run it) and a timeout, so that a regression fails instead of hanging the suite."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    try:
        out = subprocess.run([sys.executable, "-c", SETTLE_BANK], env=env, capture_output=True,
                             text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail("settling 128 ant diverse states did not finish in 240 s: the XLA:CPU "
                    "deadlock is back (see lamour_jax/xla_runtime.py)")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "(128, 15) True"
