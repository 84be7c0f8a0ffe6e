"""Recovery retraining: the objectives' formulas, candidate ranking, resume, videos, the
compare report, and CLI errors. Runs on the point-mass env (seconds per compile)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from tensorboard_events import read_tensorboard

from lamour_jax import params
from lamour_jax.cli import main
from lamour_jax.envs import default_physics, make
from lamour_jax.envs.registry import robot
from lamour_jax.envs.sampler import OODSampler
from lamour_jax.learner import make_train
from lamour_jax.learner.evaluate import evaluate_and_trace, evaluate_episodes, evaluate_policy
from lamour_jax.learner.networks import gaussian_log_prob
from lamour_jax.learner.policy import load, load_policy
from lamour_jax.learner.types import Transition
from lamour_jax.params import train_config
from lamour_jax.policies import shipped_policy
from lamour_jax.recovery import Objective, Original
from lamour_jax.recovery.final_eval import final_per_seed, final_table
from lamour_jax.recovery.objectives import LEVEL_STARTS
from lamour_jax.recovery.peak import PeakKeeper
from lamour_jax.recovery.report import best_member, curves, markdown_table, panels, paper_reference
from lamour_jax.recovery.resume import recorded_run
from lamour_jax.recovery.run import (
    COVERAGE_WARNING,
    TRAINING_BANK_SEED,
    TRAINING_BANK_SIZE,
    RecoverySpec,
    level_starts,
    ood_levels,
    recovery_config,
    training_env,
)
from lamour_jax.runtime.run_dir import RunDir, RunRecord
from lamour_jax.transpile import candidate_set, transpile

pytestmark = pytest.mark.xdist_group("recovery")  # shares the trained original below

GOOD = """import numpy as np

def is_recovered(state):
    return int(np.sqrt(state[0] ** 2 + state[1] ** 2) < 0.9)

def calculate_reward(state, action):
    d = np.sqrt(state[0] ** 2 + state[1] ** 2)
    return -max(0.0, d - 0.9) - 0.01 * np.sum(np.square(action))
"""
USELESS = """def is_recovered(state):
    return 0

def calculate_reward(state, action):
    return -1.0
"""
FAST = ["--set", "num_envs=32", "--set", "eval_every=4096", "--set", "eval_envs=4",
        "--set", "episode_length=60", "--no-progress"]
# Retraining's critic warm-up (51,200 steps) outlasts these short runs: without this the actor
# would never change in them.
ACTOR_LEARNS = ["--set", "critic_warmup_steps=0"]


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """A point-mass policy trained with dropout 0.1, so every method (SeRO too) can use it."""
    out = tmp_path_factory.mktemp("original") / "run"
    assert main(["train", "pointmass", "--steps", "8192", "--out", str(out), "--no-progress",
                 "--set", "policy_dropout=0.1", "--set", "eval_every=8192"]) == 0
    return out


def _good_reward(folder):
    """GOOD as a reward file. The CLI tests that recover with it at the same settings share
    one compiled program (the persistent compile cache), which keeps the suite's time down."""
    path = folder / "good.py"
    path.write_text(GOOD)
    return path


def _original(path) -> Original:
    return Original.from_policy(load(path))


def _objective(original_dir, method, switch="valid", lam=0.5, c=0.5, shaping="reward",
               levels=None):
    programs = candidate_set([transpile(GOOD, 4, 2), transpile(USELESS, 4, 2)])
    return Objective(method, lam, c, switch, programs, _original(original_dir), seeds=2,
                     shaping=shaping, gamma=0.9, levels=levels)


FAR = jnp.array([1.8, 0.0, 0.0, 0.0])  # 1.8 m out: aux = -(1.8 - 0.9) - 0.01 |a|^2
NEAR = jnp.array([0.2, 0.0, 0.0, 0.0])
ACTION = jnp.array([0.5, -0.5])
AUX_FAR = -(1.8 - 0.9) - 0.01 * 0.5


def _info(env_reward, member=0):
    return {"env_reward": jnp.float32(env_reward), "original_reward": jnp.float32(3.0),
            "member": jnp.int32(member)}


def test_lamour_reward_follows_the_switch(original):
    reward = _objective(original, "lamour").reward_fn()
    # switch=valid: the recovery reward is added exactly while the env's reward is 0.
    np.testing.assert_allclose(reward(FAR, ACTION, FAR, _info(0.0)), 0.5 * AUX_FAR, rtol=1e-5)
    np.testing.assert_allclose(reward(FAR, ACTION, FAR, _info(2.0)), 2.0, rtol=1e-6)
    # member 2 = candidate 1 (2 seeds per candidate): the constant -1 program.
    np.testing.assert_allclose(reward(FAR, ACTION, FAR, _info(0.0, member=2)), -0.5)
    # switch=is_recovered: added while is_recovered(s') is 0, whatever the env says.
    reward = _objective(original, "lamour", switch="is_recovered").reward_fn()
    np.testing.assert_allclose(reward(FAR, ACTION, FAR, _info(2.0)), 2.0 + 0.5 * AUX_FAR,
                               rtol=1e-5)
    np.testing.assert_allclose(reward(FAR, ACTION, NEAR, _info(0.0)), 0.0, atol=1e-7)


def test_potential_shaping_pays_progress_not_the_programs_level(original):
    reward = _objective(original, "lamour", shaping="potential").reward_fn()
    mid = jnp.array([1.2, 0.0, 0.0, 0.0])
    aux_mid = -(1.2 - 0.9) - 0.01 * 0.5
    # λ·(γ·R(s', a) − R(s, a)): moving in from 1.8 m to 1.2 m pays, moving out costs.
    np.testing.assert_allclose(reward(FAR, ACTION, mid, _info(0.0)),
                               0.5 * (0.9 * aux_mid - AUX_FAR), rtol=1e-5)
    assert float(reward(FAR, ACTION, mid, _info(0.0))) > 0 > float(
        reward(mid, ACTION, FAR, _info(0.0)))
    # The constant -1 program (candidate 1) has no shape: all that is left of it is
    # λ·(1 − γ), where as a reward it paid λ·(−1) on every step down.
    np.testing.assert_allclose(reward(FAR, ACTION, mid, _info(0.0, member=2)), 0.5 * 0.1,
                               rtol=1e-5)
    # Up (the env pays): the env's reward alone, as with shaping by reward.
    np.testing.assert_allclose(reward(FAR, ACTION, mid, _info(2.0)), 2.0, rtol=1e-6)
    with pytest.raises(ValueError, match="shaping must be one of"):
        _objective(original, "lamour", shaping="level")


def test_centred_shaping_takes_each_programs_level_off(original):
    reward = _objective(original, "lamour", shaping="centred",
                        levels=jnp.array([-0.5, -1.0])).reward_fn()
    np.testing.assert_allclose(reward(FAR, ACTION, FAR, _info(0.0)), 0.5 * (AUX_FAR + 0.5),
                               rtol=1e-5)
    # The constant -1 program (candidate 1) at its own level: nothing left.
    np.testing.assert_allclose(reward(FAR, ACTION, FAR, _info(0.0, member=2)), 0.0, atol=1e-7)
    np.testing.assert_allclose(reward(FAR, ACTION, FAR, _info(2.0)), 2.0, rtol=1e-6)
    with pytest.raises(ValueError, match="needs the programs' levels"):
        _objective(original, "lamour", shaping="centred")


def test_a_programs_level_is_its_mean_over_the_ood_starts():
    env = make("pointmass", "ood")
    programs = candidate_set([transpile(GOOD, 4, 2), transpile(USELESS, 4, 2)],
                             env.program_state)
    levels = ood_levels(env, programs, seed=3)
    assert levels.shape == (2,)
    assert float(levels[1]) == -1.0
    # GOOD by hand: -(distance beyond 0.9 m) on every start (zero action), averaged; the
    # starts lie beyond it, so the level is a distance, not 0.
    obs = np.asarray(level_starts(env, seed=3))
    assert obs.shape == (LEVEL_STARTS, 4)
    expected = -np.mean(np.maximum(0.0, np.hypot(obs[:, 0], obs[:, 1]) - 0.9))
    assert expected < -0.1
    np.testing.assert_allclose(float(levels[0]), expected, rtol=1e-4)
    # The same starts on a resume: the level stays the run's.
    np.testing.assert_array_equal(ood_levels(env, programs, seed=3), levels)


def test_baseline_rewards(original):
    assert _objective(original, "zero").reward_fn() is None
    assert _objective(original, "zero").extra_policy_loss() is None
    env = _objective(original, "env").reward_fn()
    assert float(env(FAR, ACTION, FAR, _info(0.0))) == 3.0  # the unmasked task reward
    sero = _objective(original, "sero")
    u = float(sero.original.uncertainty(FAR))
    assert 0.0 < u <= 1.0
    np.testing.assert_allclose(sero.reward_fn()(FAR, ACTION, FAR, _info(0.0)), -0.5 * u,
                               rtol=1e-5)
    np.testing.assert_allclose(sero.reward_fn()(FAR, ACTION, FAR, _info(1.5)), 1.5)


def test_consolidation_is_gated_behaviour_cloning(original):
    obj = _objective(original, "lamour", c=0.5)
    loss_fn = obj.extra_policy_loss()
    obs = jnp.stack([FAR, NEAR, NEAR, FAR])
    batch = Transition(obs=obs, u=jnp.zeros((4, 2)), log_prob=jnp.zeros(4),
                       reward=jnp.zeros(4), termination=jnp.zeros(4), done=jnp.zeros(4),
                       next_obs=obs, valid=jnp.zeros(4), steps_up=jnp.array([0, 3, 9, 9]))
    mean, std = jnp.zeros((4, 2)), jnp.ones((4, 2))
    key = jax.random.key(3)
    loss, metrics = loss_fn(mean, std, batch, key, jnp.int32(0))
    u_tilde = obj.original.sample_u(obs, key)
    log_prob = gaussian_log_prob(u_tilde, mean, std)
    expected = -0.5 * jnp.mean(jnp.array([0.0, 1.0, 1.0, 0.0]) * log_prob)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert float(metrics["consolidation_weight"]) == 0.5
    # With a hold of 5 steps, the state up for only 3 steps since getting up is left out.
    held = dataclasses.replace(obj, hold=5).extra_policy_loss()
    loss, metrics = held(mean, std, batch, key, jnp.int32(0))
    expected = -0.5 * jnp.mean(jnp.array([0.0, 0.0, 1.0, 0.0]) * log_prob)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert float(metrics["consolidation_weight"]) == 0.25
    # SeRO keeps its uncertainty gate on every state, fallen ones included.
    sero = _objective(original, "sero", c=0.5)
    unheld = sero.extra_policy_loss()(mean, std, batch, key, jnp.int32(0))
    held = dataclasses.replace(sero, hold=5).extra_policy_loss()(mean, std, batch, key,
                                                                   jnp.int32(0))
    np.testing.assert_allclose(held[0], unheld[0], rtol=1e-6)
    # Candidate 1 never calls a state recovered: no consolidation at all.
    loss, _ = loss_fn(mean, std, batch, key, jnp.int32(2))
    assert float(loss) == 0.0
    # SeRO weighs by 1 - U(s) instead.
    sero = _objective(original, "sero").extra_policy_loss()
    _, metrics = sero(mean, std, batch, key, jnp.int32(0))
    weight = 1.0 - obj.original.uncertainty(obs)
    np.testing.assert_allclose(metrics["consolidation_weight"], jnp.mean(weight), rtol=1e-5)


def test_sero_needs_a_dropout_original():
    plain = shipped_policy("hopper")  # a real original trained without dropout
    with pytest.raises(ValueError, match="dropout"):
        Objective("sero", 0.5, 0.5, original=_original(plain))


def test_recovery_config_fine_tunes_with_per_episode_restarts(original):
    """The fine-tuning defaults sit over the env's PPO defaults and under the user's --set."""
    policy = load(original)
    config = recovery_config(RecoverySpec("pointmass", "lamour", steps=4096), policy)
    assert train_config("pointmass").auto_reset == "per_rollout"
    assert (config.auto_reset, config.lr_schedule) == ("per_episode", "adaptive")
    assert config.freeze_normalizer and config.total_steps == 4096
    spec = RecoverySpec("pointmass", "lamour", steps=4096,
                        overrides=["auto_reset=per_rollout", "lr_schedule=constant"])
    config = recovery_config(spec, policy)
    assert (config.auto_reset, config.lr_schedule) == ("per_rollout", "constant")
    with pytest.raises(ValueError, match="architecture"):
        recovery_config(RecoverySpec("pointmass", "lamour", steps=4096,
                                     overrides=["policy_hidden=8,8"]), policy)


def test_recovery_settings_beyond_the_paper_default_per_env_and_resume_as_recorded(
        monkeypatch, tmp_path):
    """--normal-starts, --consolidate-after and --shaping fall back to the env's
    params.RECOVERY entry; an explicit value wins; a run recorded before the settings existed
    resumes without them (as it ran), not with today's default."""
    monkeypatch.setitem(params.RECOVERY, "pointmass", dataclasses.replace(
        params.RECOVERY["pointmass"], normal_starts=0.2, consolidate_after=7,
        diverse_starts=0.3, shaping="potential"))
    spec = RecoverySpec("pointmass", "lamour", steps=4096)
    assert (spec.normal_starts, spec.consolidate_after, spec.diverse_starts,
            spec.shaping) == (0.2, 7, 0.3, "potential")
    # The hold and the shaping are LaMOuR's: a baseline's run records neither. Diverse starts
    # are every method's.
    spec = RecoverySpec("pointmass", "sero", steps=4096, consolidate_after=9,
                        shaping="potential")
    assert (spec.normal_starts, spec.consolidate_after, spec.diverse_starts) == (0.2, 0, 0.3)
    assert spec.shaping == "reward"
    assert RecoverySpec("pointmass", "lamour", steps=4096,
                        shaping="reward").shaping == "reward"
    # Under --mode diverse every OOD start is a diverse one: the default does not apply, an
    # explicit share is refused.
    assert RecoverySpec("pointmass", "lamour", steps=4096, mode="diverse").diverse_starts == 0
    with pytest.raises(ValueError, match="--mode diverse"):
        RecoverySpec("pointmass", "lamour", steps=4096, mode="diverse", diverse_starts=0.5)
    spec = RecoverySpec("pointmass", "lamour", steps=4096, normal_starts=0.0,
                        consolidate_after=0, diverse_starts=0.0, shaping="reward")
    assert (spec.normal_starts, spec.consolidate_after, spec.diverse_starts) == (0.0, 0, 0.0)
    settings = ("normal_starts", "consolidate_after", "diverse_starts", "shaping")
    fields = {k: v for k, v in dataclasses.asdict(spec).items()
              if k != "env" and k not in settings}
    run = RunDir(tmp_path / "old")
    run.write(RunRecord("recovery", "pointmass", train_config("pointmass"), fields))
    recorded, _ = recorded_run(run)
    assert (recorded.normal_starts, recorded.consolidate_after, recorded.diverse_starts,
            recorded.shaping) == (0.0, 0, 0.0, "reward")


def _rows_in(rows: jax.Array, bank: jax.Array) -> np.ndarray:
    """Per row of `rows`: whether it equals some row of `bank` exactly."""
    rows, bank = np.asarray(rows), np.asarray(bank)
    return (rows[:, None, :] == bank[None, :, :]).all(-1).any(-1)


def test_diverse_training_starts_come_from_a_bank_apart_from_the_evaluations(
        original, tmp_path, capsys):
    """`--diverse-starts P`: about P of the training episodes start from a diverse bank of
    their own, the rest from the paper's pose; none from the bank the diverse evaluation
    draws from, so that test stays unseen. `--mode diverse` trains on the own bank too."""
    sampler = OODSampler(robot("pointmass"), "diverse")
    train_bank, _ = sampler.sample(jax.random.key(TRAINING_BANK_SEED), TRAINING_BANK_SIZE)
    eval_env = make("pointmass", "ood", "diverse")
    keys = jax.random.split(jax.random.key(3), 400)
    eval_starts = jax.vmap(eval_env.reset)(keys).data.qpos
    assert not _rows_in(eval_starts, train_bank).any()
    for mode, share, low, high in (("paper", 0.5, 0.4, 0.6), ("diverse", None, 1.0, 1.0)):
        spec = RecoverySpec("pointmass", "zero", steps=4096, mode=mode, diverse_starts=share,
                            normal_starts=0.0)
        starts = jax.vmap(training_env(spec, 60).reset)(keys)
        from_train_bank = _rows_in(starts.data.qpos, train_bank)
        assert low <= from_train_bank.mean() <= high, (mode, from_train_bank.mean())
        assert not _rows_in(starts.data.qpos, eval_starts).any()
        assert not bool(jnp.any(starts.info["valid"]))
    assert training_env(RecoverySpec("pointmass", "zero", steps=4096, normal_starts=0.0,
                                     diverse_starts=0.0), 60) is None
    out = tmp_path / "run"
    assert main(["recover", "pointmass", "--policy", str(original), "--method", "zero",
                 "--diverse-starts", "0.5", "--steps", "4096", "--out", str(out), *FAST]) == 0
    assert json.loads((out / "config.json").read_text())["diverse_starts"] == 0.5
    assert main(["recover", "pointmass", "--policy", str(original), "--mode", "diverse",
                 "--diverse-starts", "0.5", "--out", str(tmp_path / "refused"), *FAST]) == 2
    assert "--mode diverse" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()


def test_normal_starts_mix_into_training_but_never_into_evaluation(original, tmp_path, capsys):
    """`--normal-starts P`: about P of the training envs start valid (Normal starts); the
    evaluation episodes all start from OOD states; the share is recorded with the run."""
    mixed = make("pointmass", "ood", normal_share=0.5)
    starts = jax.vmap(mixed.reset)(jax.random.split(jax.random.key(0), 400))
    assert 0.4 < float(jnp.mean(starts.info["valid"])) < 0.6
    ood = make("pointmass", "ood")
    assert not bool(jnp.any(jax.vmap(ood.reset)(jax.random.split(jax.random.key(0), 400))
                            .info["valid"]))
    with pytest.raises(ValueError, match="normal_share"):
        make("pointmass", "ood", normal_share=1.0)
    config = train_config("pointmass").replace(eval_envs=32)
    for eval_env, starts_valid in ((None, True), (ood, False)):
        trainer = make_train(mixed, config, eval_env=eval_env)
        state = jax.jit(trainer.init)(jax.random.key(1))
        first_valid = jax.jit(trainer.evaluate)(state, jax.random.key(2))["first_valid_step"]
        assert bool(jnp.any(first_valid == 0)) == starts_valid
    out = tmp_path / "run"
    assert main(["recover", "pointmass", "--policy", str(original), "--method", "zero",
                 "--normal-starts", "0.25", "--steps", "4096", "--out", str(out), *FAST]) == 0
    assert json.loads((out / "config.json").read_text())["normal_starts"] == 0.25
    with pytest.raises(SystemExit):  # argparse's usage error, exit status 2
        main(["recover", "pointmass", "--normal-starts", "1"])
    assert "expected a number in [0, 1)" in capsys.readouterr().err


def test_sero_retrains_without_dropout_yet_measures_the_originals(original, tmp_path, capsys):
    """`--set policy_dropout=0` turns the masks off in the recovering actor only: its export
    has no dropout, while SeRO's U still comes from the original's MC dropout (weight < 1)."""
    policy = load(original)
    assert policy.meta["policy_dropout"] == 0.1
    spec = RecoverySpec("pointmass", "sero", steps=4096, overrides=["policy_dropout=0"])
    assert recovery_config(spec, policy).policy_dropout == 0.0
    out = tmp_path / "sero"
    assert main(["recover", "pointmass", "--policy", str(original), "--method", "sero",
                 "--steps", "4096", "--out", str(out), "--set", "policy_dropout=0",
                 *FAST]) == 0
    assert json.loads((out / "best" / "policy.json").read_text())["policy_dropout"] == 0.0
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["dropout_var_max"] == [0.0, 0.0]  # no masks in the recovering actor
    assert 0.0 < row["consolidation_weight"] < 1.0
    # 4,096 steps lie inside the critic's 51,200-step warm-up: the run says so up front.
    assert "the actor (the policy) will not change" in capsys.readouterr().err


def test_the_humanoid_retrains_with_sac_and_without_dropout_by_default():
    """The humanoid's recovery defaults are the SAC settings it stood up with; SAC trains
    without dropout, so a SeRO-ready original retrains without masks by itself, and a user
    who asks for them is refused with the flag to change."""
    for dropout in (False, True):
        shipped = load(shipped_policy("humanoid", dropout=dropout))
        config = recovery_config(RecoverySpec("humanoid", "sero", steps=102_400), shipped)
        assert (config.learner, config.lr_schedule, config.policy_dropout) == \
            ("sac", "constant", 0.0)
        assert (config.num_envs, config.sac_updates, config.obs_clip) == (64, 256, 3.0)
    with pytest.raises(ValueError, match="--set policy_dropout=0"):
        recovery_config(RecoverySpec("humanoid", "sero", steps=102_400,
                                     overrides=["policy_dropout=0.1"]), shipped)
    ppo = recovery_config(RecoverySpec("humanoid", "sero", steps=102_400,
                                       overrides=["learner=ppo", "lr_schedule=adaptive"]),
                          shipped)
    assert ppo.policy_dropout == shipped.meta["policy_dropout"] > 0


@pytest.mark.parametrize("env_name", ["ant", "halfcheetah", "hopper", "walker2d"])
def test_recovery_explores_harder_by_default(env_name, original):
    """The Gym envs' per-env fine-tuning defaults (a fresh std, a larger entropy bonus) sit
    over the shared ones and under --set; other envs keep the plain defaults."""
    shipped = load(shipped_policy(env_name))
    config = recovery_config(RecoverySpec(env_name, "lamour", steps=4096), shipped)
    assert (config.init_std, config.entropy_coef) == (1.0, 0.01)
    # The cheetah's 10 x 32 minibatch steps per iteration pin a KL-adaptive rate at its floor.
    rate = "constant" if env_name == "halfcheetah" else "adaptive"
    assert (config.lr_schedule, config.auto_reset) == (rate, "per_episode")
    config = recovery_config(RecoverySpec(env_name, "zero", steps=4096,
                                          overrides=["init_std=0.5"]), shipped)
    assert (config.init_std, config.entropy_coef) == (0.5, 0.01)
    plain = recovery_config(RecoverySpec("pointmass", "lamour", steps=4096), load(original))
    assert (plain.init_std, plain.entropy_coef) == (0.0, train_config("pointmass").entropy_coef)


@pytest.mark.parametrize("env_name", ["ant", "hopper"])
def test_recovery_keeps_its_measured_loop_when_the_original_trains_on_another(env_name):
    """The ant's and hopper's originals train with sample reuse (64-step rollouts, 10 epochs);
    their recovery results were measured on 20-step rollouts and 4 epochs of 8 minibatches
    (and for the hopper, the pre-tanh entropy bonus), which retraining must keep."""
    trained = train_config(env_name)
    assert (trained.unroll_length, trained.update_epochs) == (64, 10)
    config = recovery_config(RecoverySpec(env_name, "lamour", steps=4096),
                             load(shipped_policy(env_name)))
    assert (config.unroll_length, config.update_epochs, config.num_minibatches) == (20, 4, 8)
    assert config.entropy_space == "pre_tanh"
    assert config.num_envs == {"ant": 128, "hopper": 256}[env_name]


def test_recover_ranks_candidates_resumes_and_renders(original, tmp_path, capsys):
    rundir = tmp_path / "generated"
    (rundir / "candidates").mkdir(parents=True)
    (rundir / "candidates" / "sample0.py").write_text(USELESS)
    (rundir / "candidates" / "sample1.py").write_text(GOOD)
    out = tmp_path / "rec"
    args = ["recover", "pointmass", "--policy", str(original), "--reward", str(rundir),
            "--steps", "8192", "--seeds", "2", "--out", str(out), "--tensorboard", *FAST]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [c["candidate"] for c in summary["candidates"]] != []
    assert {c["candidate"] for c in summary["candidates"]} == {"sample0.py", "sample1.py"}
    ranked = summary["candidates"]
    assert (ranked[0]["recovery_rate"], ranked[0]["return_mean"]) >= (
        ranked[1]["recovery_rate"], ranked[1]["return_mean"])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 4  # 2 evaluations x (2 candidates x 2 seeds)
    for key in ("return_mean", "recovery_rate", "steps_to_recovery_median",
                "return_after_recovery", "normal_return_mean", "consolidation_weight"):
        assert key in rows[-1]
    # TensorBoard: one run per member, named by its candidate and seed (member m trains
    # candidate m // 2 with seed m % 2).
    for m, name in enumerate(["sample0-seed_0", "sample0-seed_1", "sample1-seed_0",
                              "sample1-seed_1"]):
        board = read_tensorboard(out / "tensorboard" / name)
        assert [v for _, v in board["eval/return_mean"]] == pytest.approx(
            [r["return_mean"] for r in rows if r["member"] == m])
    best = load(out / "best")
    assert best.members == 2 and best.meta["candidates"] == [summary["best"]]
    # DIR/peak: the best evaluation's policy, recorded in the summary.
    peak = summary["peak"]
    def score(evaluation, candidate):  # member m trains candidate m // 2
        members = [r for r in rows if (r["eval"], r["member"] // 2) == (evaluation, candidate)]
        return tuple(np.mean([r[key] for r in members]) for key in ("recovery_rate",
                                                                    "return_mean"))

    top = max(score(e, k) for e in (1, 2) for k in (0, 1))
    assert (peak["recovery_rate"], peak["return_mean"]) == pytest.approx(top)
    assert load(out / "peak").meta["candidates"] == [peak["candidate"]]
    assert (out / "rewards" / "sample1.py").read_text() == GOOD
    # Before training, where each candidate's is_recovered holds on the original's own
    # Normal-env steps (where consolidation can act), with a warning for the one that never
    # holds.
    coverage = summary["before"]["consolidation_coverage"]
    assert coverage["sample0.py"] == 0.0 and coverage["sample1.py"] > COVERAGE_WARNING
    logged = capsys.readouterr()
    warnings = [line for line in logged.err.splitlines() if line.startswith("warning: below")]
    assert len(warnings) == 1 and "sample0.py" in warnings[0]
    table = logged.out
    assert "| original policy |" in table and "(best)" in table
    # A finished run resumes to the same place: nothing retrained (nor compiled), videos
    # rendered, the same table.
    assert main(["recover", "pointmass", "--resume", str(out), "--video", "--no-progress"]) == 0
    resumed = capsys.readouterr()
    assert "nothing to train" in resumed.err and "recovering pointmass" not in resumed.err
    assert resumed.out.startswith(table.split("\n\n")[0].splitlines()[0])
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 8
    for name in ("before.gif", "after.gif"):
        assert (out / name).read_bytes()[:3] == b"GIF"
    # peak.gif only when DIR/peak is not the final policy.
    assert (out / "peak.gif").is_file() == (peak["step"] != summary["steps"])
    # A resume whose recorded PPO config is damaged stops with a clear error, files untouched.
    config_path = out / "config.json"
    record = json.loads(config_path.read_text())
    record["ppo"]["no_such_field"] = 1
    config_path.write_text(json.dumps(record))
    damaged = config_path.read_text()
    assert main(["recover", "pointmass", "--resume", str(out), "--no-progress"]) == 2
    assert "config.json is damaged" in capsys.readouterr().err
    assert config_path.read_text() == damaged
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 8
    # A checkpoint that cannot be restored: a clear error, and a larger --steps is not written
    # into config.json, which stays as the run left it.
    config_path.write_text(json.dumps({**record, "ppo": {
        k: v for k, v in record["ppo"].items() if k != "no_such_field"}}))
    intact = config_path.read_text()
    for f in (out / "checkpoints" / "2").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    assert main(["recover", "pointmass", "--resume", str(out), "--steps", "16384",
                 "--no-progress"]) == 2
    assert "cannot be restored" in capsys.readouterr().err
    assert config_path.read_text() == intact


def test_peak_keeps_the_best_evaluations_policy_across_resumes(tmp_path):
    """DIR/peak: the policy of the evaluation that beat every earlier one (recovery rate, then
    OOD return, per candidate over its seeds), kept through later, worse evaluations; a resume
    from before it drops it, since those evaluations are trained again."""
    trainer = make_train(make("pointmass", episode_length=20),
                         train_config("pointmass").replace(num_envs=8, unroll_length=4,
                                                             num_minibatches=2))
    init = jax.jit(jax.vmap(trainer.init))
    states = [init(jax.random.split(jax.random.key(i), 2)) for i in range(3)]

    def rows(evaluation, scores, normal=7.0):  # 2 candidates x 1 seed: member = candidate
        return [{"eval": evaluation, "step": 100 * evaluation, "member": m, "recovery_rate": rate,
                 "return_mean": ret, "normal_return_mean": normal}
                for m, (rate, ret) in enumerate(scores)]

    keeper = PeakKeeper(tmp_path, ["a.py", "b.py"], 1, {"env": "pointmass"})
    keeper(1, states[0], rows(1, [(0.0, 5.0), (0.0, 3.0)]))
    # b's rate beats a's return; its Normal-env return was NaN, recorded as null by the loop
    keeper(2, states[1], rows(2, [(0.0, 9.0), (0.5, 1.0)], normal=None))
    keeper(3, states[2], rows(3, [(0.5, 1.0), (0.0, 50.0)]))  # ties b at best: kept as was
    record = keeper.record()
    assert (record["eval"], record["candidate"], record["return_mean"]) == (2, "b.py", 1.0)
    assert record["normal_return_mean"] is None
    params, meta = load_policy(tmp_path / "peak")
    assert meta["candidates"] == ["b.py"] and meta["members"] == 1
    chex.assert_trees_all_close(params["actor"],
                                jax.tree.map(lambda x: x[1:2], states[1].params["actor"]))
    PeakKeeper(tmp_path, ["a.py", "b.py"], 1, {}, resumed_from=3)
    assert keeper.record()["eval"] == 2
    PeakKeeper(tmp_path, ["a.py", "b.py"], 1, {}, resumed_from=1)
    assert keeper.record() is None and not (tmp_path / "peak").exists()


def test_best_seed_is_the_best_member_of_the_best_candidate():
    summary = {"seeds": 3, "best": "b.py",
               "candidates": [{"candidate": "a.py", "index": 0}, {"candidate": "b.py", "index": 1}]}
    rates = {0: 1.0, 1: 1.0, 2: 1.0, 3: 0.0, 4: 0.5, 5: 0.5}  # members 3-5 are b.py's seeds
    returns = {0: 9.0, 1: 9.0, 2: 9.0, 3: 0.0, 4: 10.0, 5: 80.0}
    history = [{"eval": 1, "member": m, "recovery_rate": 0.0, "return_mean": 0.0} for m in rates]
    history += [{"eval": 2, "member": m, "recovery_rate": rates[m], "return_mean": returns[m]}
                for m in rates]
    assert best_member(summary, history) == 2  # b.py's third seed: DIR/best holds b.py's seeds


def test_reports_quote_the_paper_for_its_envs():
    line = paper_reference("hopper", ["lamour", "zero", "env"])
    assert "original policy ≈3.35k" in line and "lamour ≈3.3k, zero ≈2.0k, env ≈0." in line
    assert "sero" not in line and "1M steps" in line
    assert "4M steps" in paper_reference("humanoid", ["lamour"])
    # PushChair's paper returns are on another reward's scale; its headline is the success rate.
    assert "success from OOD starts lamour 79.8 %" in paper_reference("pushchair", ["lamour"])
    assert paper_reference("pointmass", ["lamour"]) == ""


def test_compare_plot_shows_success_where_the_runs_log_it():
    """PushChair's headline is its success rate: the plot gets a third panel for it, and only
    where every run logged one (an env without a success test keeps two)."""
    row = {"eval": 0, "step": 0, "member": 0, "return_mean": 0.0, "recovery_rate": 0.0,
           "normal_return_mean": 1.0}
    plain = {"zero": ({}, [row])}
    with_success = {"lamour": ({}, [{**row, "success_rate": 0.5}]),
                    "zero": ({}, [{**row, "success_rate": 0.0}])}
    assert [key for key, _, _ in panels(plain)] == ["return_mean", "recovery_rate"]
    assert [key for key, _, _ in panels(with_success)][-1] == "success_rate"
    assert len(panels({**with_success, **plain})) == 2


def test_compare_curves_begin_at_the_original():
    """Every seed starts as the original, so a curve's first point is the original's own
    evaluation on the same starts at step 0, with no spread; the seeds' evaluations follow."""
    history = [{"eval": 1, "step": 1000, "member": m, "return_mean": r, "success_rate": s}
               for m, r, s in ((0, 10.0, 0.5), (1, 30.0, None))]
    start = {"return_mean": 2.0, "success_rate": 0.25}
    c = curves(history, [0, 1], ["return_mean", "success_rate"], start=start)
    assert c["step"].tolist() == [0, 1000]
    assert c["return_mean"].tolist() == [2.0, 20.0] and c["return_mean_sd"].tolist() == [0, 10]
    assert c["success_rate"][0] == 0.25 and np.isnan(c["success_rate"][1])  # one seed unlogged
    without = curves(history, [0, 1], ["return_mean"])
    assert without["step"].tolist() == [1000] and without["return_mean"].tolist() == [20.0]
    assert np.isnan(curves(history, [0], ["success_rate"], start={})["success_rate"][0])


def test_compare_table_has_a_success_column_for_tasks_with_a_success_test():
    summary = {"candidates": [{"index": 0, "candidate": "r.py"}], "best": "r.py", "seeds": 2}
    row = {"eval": 1, "step": 4096, "return_mean": 5.0, "recovery_rate": 1.0,
           "normal_return_mean": 9.0, "steps_to_recovery_median": 3.0}
    before = {"ood": {"return_mean": 0.0, "return_std": 0.0, "recovery_rate": 0.0,
                      "steps_to_recovery_median": None, "episodes": 8},
              "normal": {"return_mean": 9.0}}
    plain = markdown_table("pointmass", {"lamour": (summary, [{**row, "member": 0},
                                                              {**row, "member": 1}])}, before)
    assert "success" not in plain
    history = [{**row, "member": 0, "success_rate": 0.5}, {**row, "member": 1,
                                                            "success_rate": 1.0}]
    before["ood"]["success_rate"] = 0.0
    table = markdown_table("pushchair", {"lamour": (summary, history)}, before)
    assert "| success (OOD starts) |" in table
    assert table.splitlines()[2].endswith("| 0% |") and table.splitlines()[3].endswith(
        "| 75% |")


def test_compare_writes_table_and_plot(original, tmp_path, capsys):
    out = tmp_path / "cmp"
    reward = _good_reward(tmp_path)
    # env differs from zero only in its reward (test_baseline_rewards); three methods keep
    # the compiles down.
    args = ["compare", "pointmass", "--policy", str(original), "--reward", str(reward),
            "--methods", "lamour,zero,sero", "--steps", "4096", "--seeds", "2",
            "--out", str(out), *FAST]
    assert main(args) == 0
    # The original is evaluated once, for the first method; the others share its "before".
    assert capsys.readouterr().err.count("evaluating the original policy") == 1
    assert len({(out / m / "before.json").read_text() for m in ("lamour", "zero", "sero")}) == 1
    text = (out / "compare.md").read_text()
    for row in ("| original policy (before) |", "| lamour |", "| zero |", "| sero |"):
        assert row in text
    # Per seed: each method's last evaluation of each seed, in the header's method order.
    training = text[text.index("## During training"):]
    assert "| pointmass: seed | lamour | zero | sero |" in training
    seed1 = next(line for line in training.splitlines() if line.startswith("| 1 | "))
    for method, cell in zip(("lamour", "zero", "sero"), seed1.strip("| ").split(" | ")[1:],
                            strict=True):
        lines = (out / method / "metrics.jsonl").read_text().splitlines()
        rows = [json.loads(line) for line in lines]
        last = next(r for r in rows if r["member"] == 1 and r["eval"] == rows[-1]["eval"])
        assert cell == (f"{last['return_mean']:.1f}, {last['recovery_rate']:.0%}, "
                        f"{last['normal_return_mean']:.1f}")
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    # The final policies on the same paper, diverse and Normal starts: mean over seeds.
    assert text.index("## Final policies") < text.index("## During training")
    for method in ("lamour", "zero", "sero"):
        final = json.loads((out / method / "final_eval.json").read_text())
        assert final["steps"] == 4096 and set(final["kinds"]) == {"paper", "diverse", "normal"}
        paper = np.mean([r["return_mean"] for r in final["kinds"]["paper"]])
        diverse = np.mean([r["return_mean"] for r in final["kinds"]["diverse"]])
        assert all(len(rows) == 2 for rows in final["kinds"].values())
        row = next(line for line in text.splitlines()
                   if line.startswith(f"| {method} | ") and "%" in line)
        assert row.split(" | ")[1].startswith(f"{paper:.1f} ± ")
        assert row.split(" | ")[3].startswith(f"{diverse:.1f} ± ")
    stamps = {m: (out / m / "final_eval.json").stat().st_mtime_ns for m in ("lamour", "zero")}
    capsys.readouterr()
    assert main(args) == 0  # a rerun reuses the finished methods and their final evaluation
    assert capsys.readouterr().err.count("reusing the finished run") == 3
    assert stamps == {m: (out / m / "final_eval.json").stat().st_mtime_ns for m in stamps}
    # A cut-short cache is evaluated anew, not a crash of the report.
    (out / "zero" / "final_eval.json").write_text('{"steps": 40')
    assert main(args) == 0
    final = json.loads((out / "zero" / "final_eval.json").read_text())
    assert final["steps"] == 4096
    # `lamour evaluate` of a method's run says which starts the table used, and on them
    # reproduces the table's figure (at the episode length the run trained with: FAST's 60,
    # not the env's 100, which its policy.json must record).
    capsys.readouterr()
    evaluate = ["evaluate", str(out / "zero"), "--member", "all", "--variant", "ood",
                "--episodes", "32"]
    assert main(evaluate) == 0
    assert "`lamour compare` reports this run's final policies on those of --seed 101" in (
        capsys.readouterr().out)
    assert main([*evaluate, "--seed", "101"]) == 0
    printed = capsys.readouterr().out
    assert "note:" not in printed
    paper = np.mean([r["return_mean"] for r in final["kinds"]["paper"]])
    assert f"policies' means): {paper:.1f} ± " in printed


def test_recover_resume_with_more_steps_equals_a_longer_run(original, tmp_path, monkeypatch):
    """On the C engine: an exact resume on MJX is test_learner's test_resume_is_exact[mjx] and
    test_distributed's, and what a recovery adds to a resume does not depend on the engine."""
    import chex

    # The reward, seeds and settings of the compare-rerun test below, which reuses this
    # test's compiled program. No critic warm-up: the actor learns from the first update, so
    # equal actors mean equal training.
    common = ["--policy", str(original), "--method", "zero", "--seeds", "2",
              "--reward", str(_good_reward(tmp_path)), *FAST, *ACTOR_LEARNS,
              "--physics", "native"]
    straight, grown = tmp_path / "straight", tmp_path / "grown"
    assert main(["recover", "pointmass", "--steps", "8192", "--out", str(straight), *common]) == 0
    assert main(["recover", "pointmass", "--steps", "4096", "--out", str(grown), *common]) == 0
    # The resume trains on with the config the run recorded, even when the defaults have
    # changed since it started (here: a retraining default that would alter every update).
    monkeypatch.setitem(params.RECOVERY, "pointmass",
                        params.RecoveryParams(lam=0.5, c=0.5, ppo={"gamma": 0.5}))
    assert main(["recover", "pointmass", "--resume", str(grown), "--steps", "8192",
                 "--no-progress"]) == 0
    chex.assert_trees_all_equal(load(straight / "best").actor_params,
                               load(grown / "best").actor_params)
    assert json.loads((grown / "config.json").read_text())["steps"] == 8192
    assert json.loads((grown / "summary.json").read_text())["steps"] == 8192
    rows = [json.loads(line) for line in (grown / "metrics.jsonl").read_text().splitlines()]
    assert [r["eval"] for r in rows] == [1, 1, 2, 2]  # per evaluation, a row per seed


def test_compare_rerun_grows_the_budget_and_refuses_other_settings(original, tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "pointmass", "--policy", str(original), "--methods", "zero",
            "--reward", str(_good_reward(tmp_path)), "--seeds", "2", "--out", str(out), *FAST,
            *ACTOR_LEARNS]
    assert main([*args, "--steps", "4096"]) == 0
    capsys.readouterr()
    # Without --policy a rerun takes the comparison's original (pointmass ships none).
    without_policy = [x for x in args if x not in ("--policy", str(original))]
    assert main([*without_policy, "--steps", "4096"]) == 0
    err = capsys.readouterr().err
    assert f"using the comparison's original policy {original.absolute()}" in err
    assert "reusing the finished run" in err
    # A training run's folder is not taken for a comparison's (nor overwritten).
    record = (original / "config.json").read_text()
    assert main([*without_policy, "--steps", "4096", "--out", str(original)]) == 2
    assert "not a compare run" in capsys.readouterr().err
    assert (original / "config.json").read_text() == record
    # 6000 steps are two whole evaluation periods of 4096: the run continues to 8192 ...
    assert main([*args, "--steps", "6000"]) == 0
    assert "continuing" in capsys.readouterr().err
    rows = [json.loads(line) for line in (out / "zero" / "metrics.jsonl").read_text().splitlines()]
    assert sorted({r["step"] for r in rows}) == [4096, 8192]
    assert "| zero | 8,192 |" in (out / "compare.md").read_text()
    # ... and the same command again only reports.
    assert main([*args, "--steps", "6000"]) == 0
    assert "reusing the finished run" in capsys.readouterr().err
    # A run stopped after writing its last period's metrics but before that checkpoint landed
    # has done what its checkpoints hold: it is continued, not reused, and not counted twice.
    shutil.rmtree(out / "zero" / "checkpoints" / "2")
    assert main([*args, "--steps", "6000"]) == 0
    assert "continuing" in capsys.readouterr().err
    rows = [json.loads(line) for line in (out / "zero" / "metrics.jsonl").read_text().splitlines()]
    assert sorted(r["step"] for r in rows) == [4096, 4096, 8192, 8192]
    assert main([*args, "--steps", "4096"]) == 2
    assert "8,192 steps per seed, more than --steps 4,096" in capsys.readouterr().err
    assert main([*args, "--steps", "8192", "--c", "0.9"]) == 2
    assert "other settings (c 0.5 -> 0.9)" in capsys.readouterr().err
    assert len((out / "zero" / "metrics.jsonl").read_text().splitlines()) == 4  # untouched


@pytest.mark.parametrize("extra, message", [
    ([], "--policy"),
    (["--policy", "{orig}", "--reward", "{tmp}/missing.py"], "expected a .py"),
    (["--policy", "{orig}", "--reward", "{tmp}/bad.py"], "rejected"),
    (["--policy", "{tmp}"], "no exported policy"),
    (["--policy", "{orig}", "--method", "zero", "--set", "obs_std_floor=2"],
     "original policy's architecture"),
])
def test_recover_errors_exit_2(original, tmp_path, capsys, extra, message):
    (tmp_path / "bad.py").write_text("def is_recovered(state):\n    import os\n")
    extra = [e.format(orig=original, tmp=tmp_path) for e in extra]
    assert main(["recover", "pointmass", "--out", str(tmp_path / "o"), *extra, *FAST]) == 2
    assert message in capsys.readouterr().err


def test_policy_of_another_env_is_refused(original, tmp_path, capsys):
    assert main(["recover", "hopper", "--policy", str(original), "--out", str(tmp_path / "o"),
                 *FAST]) == 2
    assert "trained on pointmass" in capsys.readouterr().err


def test_evaluate_prints_the_table_and_writes_a_video(original, tmp_path, capsys):
    video = tmp_path / "ood.gif"
    assert main(["evaluate", str(original), "--variant", "ood", "--episodes", "4",
                 "--video", str(video), "--video-stride", "5"]) == 0
    out = capsys.readouterr().out
    assert f"| pointmass | ood | {default_physics()} | 4 |" in out
    assert f"video: {video} (episode 1 of the 4 " in out
    length = int(re.search(r"return -?[0-9.]+, (\d+) steps", out).group(1))
    with Image.open(video) as gif:  # every 5th step from the start, the last pose held
        assert gif.n_frames == len(range(0, length + 1, 5)) + (length % 5 > 0)
        gif.seek(gif.n_frames - 1)
        assert gif.info["duration"] >= 1000


def test_a_video_traces_an_episode_the_evaluation_counts(original):
    """The traced episode is one of the batch the statistics come from: its return and length
    are that episode's, its configurations start at that episode's reset and follow its path."""
    act = load(original).act_fn(0)
    env = make("pointmass", "ood", "paper", episode_length=50)
    summary, trace = evaluate_and_trace(env, act, 4, 3, episode=2)
    assert summary == evaluate_policy("pointmass", "ood", "paper", act, 4, 3, 50)
    raw = jax.jit(lambda k: evaluate_episodes(env, act, k, 4))(jax.random.key(3))
    assert trace.ret == pytest.approx(float(raw["return"][2]))
    assert trace.length == int(raw["length"][2]) and trace.qpos.shape == (trace.length + 1, 2)
    state = jax.vmap(env.reset)(jax.random.split(jax.random.key(3), 4))
    state = jax.tree.map(lambda x: x[2], state)
    for row in trace.qpos[:6]:  # the unbatched replay of a point mass agrees to float noise
        np.testing.assert_allclose(row, state.data.qpos, atol=1e-5)
        state = env.step(state, act(state.obs))
    with pytest.raises(ValueError, match="episode 4 is not one of the 4"):
        evaluate_and_trace(env, act, 4, 3, episode=4)


def test_the_final_table_gives_a_task_with_a_success_test_its_success_rates():
    """PushChair's headline is the success rate: the final-policies table and its per-seed rows
    carry it for each kind of start; a task without a success test gets no such column."""
    def summary(ret, rate, success):
        return {"return_mean": ret, "recovery_rate": rate, "success_rate": success}

    original = {"paper": summary(0.0, 0.0, 0.0), "diverse": summary(0.0, 0.0, 0.0),
                "normal": summary(100.0, 1.0, 0.5)}
    finals = {"lamour": {"paper": [summary(50.0, 1.0, 0.25), summary(30.0, 1.0, 0.75)],
                         "diverse": [summary(10.0, 0.5, 0.0), summary(10.0, 0.5, 0.5)],
                         "normal": [summary(90.0, 1.0, 0.5), summary(80.0, 1.0, 1.0)]}}
    table = final_table("pushchair", finals, original).splitlines()
    assert table[0].endswith("| success: paper / diverse / Normal starts |")
    assert table[2].endswith("| 100.0 | 0% / 0% / 50% |")
    assert table[3].endswith("(85%) | 50% / 25% / 75% |")
    seeds = final_per_seed("pushchair", finals)
    assert "50 (100%) / 10 (50%) / 90; success 25% / 0% / 50%" in seeds
    for kinds in (original, *finals["lamour"].values()):
        for row in (kinds if isinstance(kinds, list) else kinds.values()):
            row.pop("success_rate")
    assert "success" not in final_table("hopper", finals, original)
    assert "success" not in final_per_seed("hopper", finals)
