"""The host side of a run: what it says before it compiles, what a budget trains, and how it
ends when the disk or the numbers fail it."""

import errno
import json

import chex
import jax
import jax.numpy as jnp
import matplotlib.figure
import pytest

from lamour_jax.cli import main
from lamour_jax.envs import make
from lamour_jax.learner import make_train
from lamour_jax.params import train_config
from lamour_jax.runtime import checkpoint
from lamour_jax.runtime.checkpoint import RunCheckpoints, to_saveable
from lamour_jax.runtime.curves import plot_learning_curve
from lamour_jax.runtime.loop import TrainingDiverged, rate_at_floor_note, run_training

# 16 envs x 8 steps = 128 env steps per iteration; an evaluation every 2 iterations.
TINY = ["num_envs=16", "unroll_length=8", "num_minibatches=2", "update_epochs=2",
        "eval_every=256", "eval_envs=4", "episode_length=20", "value_hidden=32,32"]
SETS = [arg for item in TINY for arg in ("--set", item)]


def tiny(**changes):
    return train_config("pointmass").override(TINY).replace(**changes)


def test_a_budget_below_one_evaluation_period_trains_that_budget():
    config = tiny(total_steps=128).fit_period()
    assert (config.eval_every, config.planned_steps) == (128, 128)
    assert config.budget_note() is None
    # Above one period the budget is whole periods, and the run says so before compiling.
    config = tiny(total_steps=300).fit_period()
    assert config.planned_steps == 512
    assert "300 steps asked for; 512 will run: 2 evaluation period(s) of 256" in \
        config.budget_note()
    assert tiny(total_steps=512).fit_period().notes() == [n for n in [
        tiny(total_steps=512).few_iterations_note()] if n]


def test_train_runs_the_steps_asked_and_says_it_is_compiling(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "pointmass", "--steps", "128", "--out", str(out), *SETS]) == 0
    err = capsys.readouterr().err
    assert "compiling the training program (pointmass" in err and "compiled in" in err
    assert err.index("compiling the training program") < err.index("compiled in")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [128]
    # The period the run was given is recorded, so a resume keeps counting it the same way.
    assert json.loads((out / "config.json").read_text())["ppo"]["eval_every"] == 128
    assert main(["train", "pointmass", "--resume", str(out), "--steps", "256"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [128, 256]
    capsys.readouterr()
    # The same program compiled again: it says how long compiling it took last time, or that
    # XLA's cache served it (then too if the first compile was served from the cache).
    assert main(["train", "pointmass", "--steps", "128", "--out", str(tmp_path / "again"),
                 *SETS]) == 0
    err = capsys.readouterr().err
    assert "compiling the training program" in err
    assert "to compile last time" in err or "(from the XLA cache)" in err


def test_a_full_disk_ends_in_one_line_and_leaves_no_half_written_checkpoint(
        tmp_path, capsys, monkeypatch):
    save = RunCheckpoints.save

    def full_at_second(self, step, state):
        if step < 2:
            return save(self, step, state)
        partial = self.dir / f"{step}.orbax-checkpoint-tmp-1733300000"
        partial.mkdir(parents=True)
        (partial / "array").write_bytes(b"\0" * 64)
        raise OSError(errno.ENOSPC, "No space left on device", str(partial / "array"))

    monkeypatch.setattr(RunCheckpoints, "save", full_at_second)
    out = tmp_path / "run"
    assert main(["train", "pointmass", "--steps", "768", "--out", str(out), "--no-progress",
                 *SETS]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("lamour train: error: cannot write ") and "No space left" in err
    assert f"checkpoint 1 in {out / 'checkpoints'} is intact" in err
    assert f"--resume {out}" in err
    assert not list(out.rglob("*orbax-checkpoint-tmp*"))
    monkeypatch.undo()
    assert main(["train", "pointmass", "--resume", str(out), "--no-progress"]) == 0


def test_a_nan_before_any_checkpoint_does_not_claim_one(tmp_path):
    env = make("pointmass", episode_length=20)
    poisoned = make_train(env, tiny(total_steps=256),
                          reward_fn=lambda o, a, n, i: jnp.float32(jnp.nan))
    with pytest.raises(TrainingDiverged) as caught:
        run_training(poisoned, tmp_path, progress=False)
    message = str(caught.value)
    assert "no evaluation period had finished" in message and "checkpoint 0" not in message


def test_the_learning_curve_of_one_evaluation_shows_its_point(tmp_path, monkeypatch):
    trainer = make_train(make("pointmass", episode_length=20), tiny(total_steps=256))
    run_training(trainer, tmp_path, progress=False)
    figures = []
    save = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda fig, *a, **k: (figures.append(fig), save(fig, *a, **k))[1])
    assert plot_learning_curve(tmp_path).is_file()
    (ax,) = figures[0].axes
    series = [line for line in ax.lines if len(line.get_xdata()) == 1]
    assert series and all(line.get_marker() not in (None, "None", "") for line in series)


def test_a_checkpoint_saved_before_a_field_was_renamed_still_resumes(tmp_path):
    trainer = make_train(make("pointmass", episode_length=20), tiny(total_steps=256))
    state = jax.vmap(trainer.init)(jax.random.split(jax.random.key(0), 1))
    saved = to_saveable(state)
    (name,) = [n for n in saved if n.endswith("_member")]
    old = name.rsplit("_", 1)[0] + "_" + checkpoint.RENAMED_FIELDS["member"]
    saved[old] = saved.pop(name)
    checkpoints = RunCheckpoints(tmp_path)
    checkpoints.manager.save(1, args=checkpoint.ocp.args.StandardSave(saved))
    checkpoints.wait()
    step, restored = checkpoints.restore(state)
    checkpoints.close()
    assert step == 1
    chex.assert_trees_all_equal(jax.random.key_data(restored.key), jax.random.key_data(state.key))
    chex.assert_trees_all_equal(restored.member, state.member)


@pytest.mark.parametrize("desired_kl", [1e-9, 10.0])
def test_a_kl_adaptive_rate_stuck_at_its_floor_is_reported_once(tmp_path, capsys, desired_kl):
    # 1e-9: every update overshoots, the rate falls 1.5x per step to its floor within the
    # first periods; 10.0: it never overshoots and nothing is said.
    config = tiny(total_steps=1024, lr_schedule="adaptive", desired_kl=desired_kl,
                  critic_warmup_steps=0)
    run_training(make_train(make("pointmass", episode_length=20), config), tmp_path,
                 progress=False)
    said = capsys.readouterr().err.count("KL-adaptive learning rate is at its floor")
    assert said == (1 if desired_kl < 1 else 0)


@pytest.mark.parametrize("epochs, minibatches, long", [(10, 32, True), (4, 8, False)])
def test_the_floor_note_names_a_long_update_as_the_cause(epochs, minibatches, long):
    # 10 x 32 steps per iteration pinned the halfcheetah's and walker2d's rates (the KL to the
    # rollout policy grows over the epochs); 4 x 8 points at the inputs instead.
    config = tiny(lr_schedule="adaptive", update_epochs=epochs, num_minibatches=minibatches)
    pinned = [{"member": 0, "learning_rate": 1e-5}, {"member": 1, "learning_rate": 3e-4}]
    note = rate_at_floor_note(config, pinned)
    assert "member(s) 0:" in note and "lr_schedule=constant" in note
    assert (f"{epochs * minibatches} minibatch steps per iteration" in note) == long
    assert ("obs_clip" in note) == (not long)
    assert rate_at_floor_note(config, pinned[1:]) is None
