"""Hyperparameter sweeps: one vmapped program over grid points x seeds (`lamour train --sweep`)."""

from __future__ import annotations

import json
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

from lamour_jax.envs import make
from lamour_jax.learner import make_train
from lamour_jax.learner.policy import load_policy
from lamour_jax.learner.sweep import Sweep, summary_table
from lamour_jax.params import train_config
from lamour_jax.runtime.loop import run_training

TINY = ["num_envs=16", "unroll_length=8", "num_minibatches=2", "update_epochs=2",
        "eval_every=256", "eval_envs=4", "episode_length=20", "value_hidden=32,32"]
RATES = (1e-3, 1e-2)


def tiny_config(total_steps: int):
    return train_config("pointmass").override(TINY).replace(total_steps=total_steps)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "lamour_jax.cli", *args], capture_output=True,
                          text=True, timeout=600)


def plain_runs(total_steps: int, seeds: int) -> list:
    """Each learning rate trained on its own (vmap over seeds only), from the seeds' keys."""
    finals = []
    for rate in RATES:
        config = tiny_config(total_steps).replace(learning_rate=rate)
        trainer = make_train(make("pointmass", episode_length=20), config)
        state = jax.jit(jax.vmap(trainer.init))(jax.random.split(jax.random.key(0), seeds))
        chunk = jax.jit(jax.vmap(trainer.run_chunk))
        for _ in range(config.num_evals):
            state, _ = chunk(state)
        finals.append(state.params)
    return finals


def test_grid_order_and_bad_sweeps_are_refused_with_the_reason():
    base = tiny_config(512)
    sweep = Sweep.parse(["learning_rate=1e-3,3e-3", "gamma=0.9,0.95,0.99"], 2, base)
    assert sweep.size == 12  # 6 grid points x 2 seeds, point major
    assert sweep.member(0) == sweep.member(1) == {"learning_rate": 1e-3, "gamma": 0.9}
    assert sweep.member(11) == {"learning_rate": 3e-3, "gamma": 0.99}
    hp = sweep.hparams(base)
    np.testing.assert_allclose(hp.gamma[:6], [0.9, 0.9, 0.95, 0.95, 0.99, 0.99], rtol=1e-6)
    assert np.all(hp.clip_eps == np.float32(base.clip_eps))  # the rest stay the base's
    keys = jax.random.key_data(sweep.keys(0))
    np.testing.assert_array_equal(keys[0], keys[2])  # seed 0 of each point: the same key
    assert not np.array_equal(keys[0], keys[1])
    assert Sweep.from_record(json.loads(json.dumps(sweep.to_record())), 2) == sweep
    for specs, reason in ((["num_envs=16,32"], "shapes the compiled program"),
                          (["learning_rat=1e-3,1e-2"], "KEY one of"),
                          (["gamma=0.99"], "two or more different values"),
                          (["gamma=0.9,0.9"], "two or more different values"),
                          (["gamma=0.9,high"], "comma-separated numbers"),
                          (["max_grad_norm=0.5,inf"], "must be finite"),
                          (["gamma=0.9,0.99", "gamma=0.5,0.6"], "given twice")):
        with pytest.raises(ValueError, match=reason):
            Sweep.parse(specs, 1, base)


def test_each_member_trains_like_a_plain_run_of_its_values(tmp_path):
    config = tiny_config(512)
    sweep = Sweep.parse([f"learning_rate={RATES[0]},{RATES[1]}"], 2, config)
    trainer = make_train(make("pointmass", episode_length=20), config)
    result = run_training(trainer, tmp_path, sweep=sweep, progress=False)
    for point, plain in enumerate(plain_runs(512, seeds=2)):
        members = jax.tree.map(lambda x, p=point: x[2 * p:2 * p + 2], result.state.params)
        chex.assert_trees_all_close(members, plain, rtol=1e-5, atol=1e-6)
    # The rates mattered: seed 0 at one rate is not seed 0 at the other.
    first = jax.tree.leaves(result.state.params["actor"])[0]
    assert not np.allclose(first[0], first[2], atol=1e-4)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["member"], r["hp"]["learning_rate"]) for r in rows if r["eval"] == 2] == [
        (0, RATES[0]), (1, RATES[0]), (2, RATES[1]), (3, RATES[1])]


def test_a_diverging_member_is_frozen_and_the_rest_of_the_sweep_trains_on(tmp_path, capsys):
    config = tiny_config(512)
    # Rewards x 1e30 overflow the value loss: that grid point goes NaN in its first period.
    sweep = Sweep.parse(["reward_scaling=1,1e30"], 1, config)
    trainer = make_train(make("pointmass", episode_length=20), config)
    result = run_training(trainer, tmp_path, sweep=sweep, progress=False)
    assert "sweep member 1 (reward_scaling=1e+30, seed 0) diverged" in capsys.readouterr().err
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("diverged", False) for r in rows] == [False, True, False, True]
    assert "return_mean" in rows[2] and "return_mean" not in rows[3]
    chex.assert_tree_all_finite(result.state.params)
    fresh = jax.jit(jax.vmap(trainer.init))(sweep.keys(0), sweep.hparams(config))
    frozen = jax.tree.map(lambda x: x[1], (result.state.params, fresh.params))
    chex.assert_trees_all_equal(*frozen)  # member 1 kept its state from before the NaN
    assert not np.allclose(jax.tree.leaves(result.state.params)[0][0],
                           jax.tree.leaves(fresh.params)[0][0])  # member 0 trained
    table = summary_table(sweep, rows[2:])
    assert table.splitlines()[2].startswith("| 1 | 1 | ") and "| 1e+30 | 1 | diverged |" in table


def test_sweep_cli_resumes_exactly_and_reports_each_grid_point(tmp_path):
    run = tmp_path / "run"
    sets = [a for s in TINY for a in ("--set", s)]
    sweep = ["--sweep", f"learning_rate={RATES[0]},{RATES[1]}"]
    out = cli("train", "pointmass", *sweep, "--seeds", "2", "--steps", "256", "--out", str(run),
              "--no-progress", *sets)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "x 2 seed(s) x 2 grid points (learning_rate)" in out.stderr
    record = json.loads((run / "config.json").read_text())
    assert record["sweep"] == {"learning_rate": list(RATES)} and record["seeds"] == 2
    out = cli("train", "pointmass", "--resume", str(run), "--steps", "512", "--no-progress")
    assert out.returncode == 0, out.stderr[-2000:]
    # The table ranks the grid points, and says which policy index is each one's best seed.
    assert "| learning_rate | seeds | return (mean ± std over seeds) | best --member |" \
        in out.stdout
    assert len([line for line in out.stdout.splitlines() if line.startswith("| 0.01 |")]) == 1
    params, meta = load_policy(run)
    for point, plain in enumerate(plain_runs(512, seeds=2)):  # the resume kept each one's rate
        members = jax.tree.map(lambda x, p=point: x[2 * p:2 * p + 2], params["actor"])
        chex.assert_trees_all_close(members, plain["actor"], rtol=1e-5, atol=1e-6)
    assert meta["members"] == 4 and meta["sweep"][3] == {"learning_rate": RATES[1]}
    single = {}
    for index in (0, 3):
        out = cli("evaluate", str(run), "--member", str(index), "--episodes", "2")
        assert out.returncode == 0, out.stderr[-2000:]
        row = out.stdout.strip().splitlines()[-1].split("|")[5:9]  # return mean ... valid
        single[index] = [cell.strip() for cell in row]
    assert "policy 3 of the sweep: learning_rate=0.01" in out.stdout
    assert single[0] != single[3]  # else the rows below could come from one policy
    # One policy exported to a folder of its own scores what it scored inside the run.
    one = tmp_path / "one"
    out = cli("export", str(run), "--member", "3", "--out", str(one))
    assert out.returncode == 0, out.stderr[-2000:]
    out = cli("evaluate", str(one), "--episodes", "2")
    assert out.returncode == 0, out.stderr[-2000:]
    assert [c.strip() for c in out.stdout.strip().splitlines()[-1].split("|")[5:9]] == single[3]
    exported = json.loads((one / "policy.json").read_text())
    assert exported["members"] == 1 and exported["sweep"] == [{"learning_rate": RATES[1]}]
    assert exported["exported_from"]["member"] == 3 and (one / "config.json").is_file()
    out = cli("export", str(run), "--member", "3", "--out", str(one))
    assert out.returncode == 2 and "not an empty folder" in out.stderr
    # Retrained from the exported policy with two seeds: two policies, not a sweep of one (its
    # point once recorded beside two seeds made `evaluate --member all` raise IndexError).
    rec = tmp_path / "rec"
    out = cli("recover", "pointmass", "--policy", str(one), "--method", "zero", "--seeds", "2",
              "--steps", "256", "--out", str(rec), "--no-progress", *sets)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"retraining {one}, exported from policy 3 of the sweep in {run.absolute()}: " \
        "learning_rate=0.01" in out.stdout + out.stderr
    assert "sweep" not in json.loads((rec / "policy.json").read_text())
    out = cli("evaluate", str(rec), "--member", "all", "--episodes", "2")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "return over the 2 policies" in out.stdout
    # Every policy at once, on the same starts: each row is what it scores on its own.
    out = cli("evaluate", str(run), "--member", "all", "--episodes", "2")
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {int(line.split("|")[1]): [c.strip() for c in line.split("|")[3:7]]
            for line in out.stdout.splitlines() if line[:4] in ("| 0 ", "| 3 ")}
    assert rows == single
    assert "return over learning_rate=0.01 (mean ± std of 2 policies' means)" in out.stdout
    out = cli("evaluate", str(run), "--member", "all", "--video", str(tmp_path / "v.gif"))
    assert out.returncode == 2 and "--video films one policy" in out.stderr
    out = cli("recover", "pointmass", "--policy", str(run), "--policy-member", "4")
    assert out.returncode == 2 and "policy index 4 out of range" in out.stderr
    # Refused with exit 2 and the reason, before any training.
    out = cli("train", "pointmass", "--resume", str(run), "--sweep", "gamma=0.9,0.99")
    assert out.returncode == 2 and "cannot change on --resume" in out.stderr
    out = cli("train", "pointmass", *sweep, "--set", "learning_rate=1e-3")
    assert out.returncode == 2 and "both --set and --sweep" in out.stderr
    out = cli("train", "pointmass", "--sweep", "num_envs=16,32")
    assert out.returncode == 2 and "shapes the compiled program" in out.stderr


def test_sweep_points_only_for_a_run_whose_policies_are_the_sweep():
    """A run retrained from one sweep policy records its point beside several seeds: its
    policies are not the sweep's, and `lamour evaluate --member all` must not index the point
    per policy (it raised IndexError)."""
    from lamour_jax.learner.policy import sweep_points

    points = [{"learning_rate": 1e-4}, {"learning_rate": 3e-4}]
    assert sweep_points({"members": 2, "sweep": points}) == points
    assert sweep_points({"members": 5, "sweep": points[:1]}) is None
    assert sweep_points({"members": 1}) is None
