"""PPO learner: learning, exact resume, sharding, NaN handling, hooks, CLI errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fast_compile import subprocess_xla_flags
from tensorboard_events import read_tensorboard

from lamour_jax.envs import make
from lamour_jax.learner import PPOConfig, make_train
from lamour_jax.learner.networks import gaussian_entropy, gaussian_log_prob, squashed_entropy
from lamour_jax.learner.policy import load_policy
from lamour_jax.params import train_config
from lamour_jax.runtime.checkpoint import CheckpointError, RunCheckpoints, save_policy
from lamour_jax.runtime.loop import TrainingDiverged, over_seeds, run_training
from lamour_jax.xla_runtime import available_cores

TINY = ["num_envs=16", "unroll_length=8", "num_minibatches=2", "update_epochs=2",
        "eval_every=256", "eval_envs=4", "episode_length=20", "value_hidden=32,32"]
# SAC on the same tiny loop: a small buffer, few small gradient steps.
TINY_SAC = ["learner=sac", "replay_size=4096", "sac_updates=4", "sac_batch_size=64"]


def tiny_config(**changes) -> PPOConfig:
    return train_config("pointmass").override(TINY).replace(**changes)


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lamour_jax.cli", *args], capture_output=True,
                          text=True, timeout=600, env=env)


def test_learns_pointmass():
    config = train_config("pointmass").replace(total_steps=40_960)
    env = make("pointmass", episode_length=config.episode_length)
    trainer = make_train(env, config)
    _, metrics = jax.jit(trainer.train)(jax.random.key(0))
    returns = np.asarray(metrics["return_mean"])
    assert returns[0] < 60.0, returns  # a fresh policy wanders
    assert returns[-1] > 75.0, returns  # stated target: > 75 (of at most 100) in 41k steps
    assert np.all(np.asarray(metrics["finite"]))


@pytest.mark.parametrize("learner", ["ppo", "sac"])
def test_seeds_vmap_and_traces_once(learner):
    sets = [*TINY, *(TINY_SAC if learner == "sac" else [])]
    config = train_config("pointmass").override(sets).replace(total_steps=512)
    trainer = make_train(make("pointmass", episode_length=20), config)
    chex.clear_trace_counter()  # the counter is per function: the other learner's run traced it
    states = jax.vmap(trainer.init)(jax.random.split(jax.random.key(1), 3))
    @jax.jit
    @chex.assert_max_traces(n=1)
    def chunk(states):
        return jax.vmap(trainer.run_chunk)(states)

    states, m1 = chunk(states)
    states, m2 = chunk(states)
    assert m1["return_mean"].shape == (3,)
    assert len(set(np.asarray(m2["return_mean"]).round(4))) == 3  # seeds differ


def test_one_seed_runs_unbatched_with_the_seed_axis_kept():
    """run_training runs a single seed without vmap (a size-1 vmap halves the CPU speed of
    the MJX step); state and metrics keep their leading seed axis, numbers match vmap's."""
    trainer = make_train(make("pointmass", episode_length=20), tiny_config(total_steps=512))
    states = jax.jit(jax.vmap(trainer.init))(jax.random.split(jax.random.key(3), 1))
    batched, m_batched = jax.jit(jax.vmap(trainer.run_chunk))(states)
    single_chunk = jax.jit(over_seeds(chex.assert_max_traces(trainer.run_chunk, n=1), 1))
    single, m_single = single_chunk(states)
    single_chunk(single)  # a second period reuses the compiled program
    chex.assert_trees_all_equal_shapes(batched, single)
    assert m_single["return_mean"].shape == (1,)
    chex.assert_trees_all_close(batched.params, single.params, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(m_batched["return_mean"], m_single["return_mean"], rtol=1e-4)
    # Unbatched for real: a vmap would add a batch dimension to every matmul of the networks.
    batch_dims = re.compile(r"dot_general\[dimension_numbers="
                            r"\(\(\[[\d, ]*\], \[[\d, ]*\]\), \(\[\d")

    def batched_matmuls(fn):
        return len(batch_dims.findall(str(jax.make_jaxpr(fn)(states))))

    assert batched_matmuls(over_seeds(trainer.run_chunk, 1)) < batched_matmuls(
        jax.vmap(trainer.run_chunk))


def test_reward_fn_and_extra_loss_hooks_are_used():
    config = tiny_config(total_steps=512, eval_every=512)  # 32 steps per env: episodes end
    seen = {}

    def extra(mean, std, batch, key, member):
        seen["called"] = True
        return 0.0 * jnp.mean(mean), {"bc": jnp.mean(batch.valid)}

    trainer = make_train(make("pointmass", episode_length=20), config,
                         reward_fn=lambda obs, action, next_obs, info: jnp.float32(1000.0),
                         extra_policy_loss=extra)
    _, metrics = jax.jit(trainer.run_chunk)(trainer.init(jax.random.key(0)))
    # The env's own reward is at most 1 per step; the hook's is 1000 for each of 1-20 steps.
    assert 1000.0 <= float(metrics["train_return"]) <= 20_000.0
    assert seen["called"] and "bc" in metrics
    # The per-step training reward is the hook's, and the valid fraction covers every
    # transition the minibatches saw.
    assert float(metrics["train_reward"]) == pytest.approx(1000.0)
    assert float(metrics["train_valid_fraction"]) == pytest.approx(float(metrics["bc"]))


def test_init_actor_keeps_policy_and_resets_critic():
    config = tiny_config(total_steps=256)
    env = make("pointmass", episode_length=20)
    first = make_train(env, config).init(jax.random.key(0))
    trainer = make_train(env, config, init_actor={"actor": first.params["actor"],
                                                  "obs_stats": first.obs_stats})
    second = trainer.init(jax.random.key(5))
    chex.assert_trees_all_equal(second.params["actor"], first.params["actor"])
    assert not np.allclose(second.params["critic"]["params"]["MLP_0"]["Dense_0"]["kernel"],
                           first.params["critic"]["params"]["MLP_0"]["Dense_0"]["kernel"])


@pytest.mark.parametrize("frozen", [False, True])
def test_freeze_normalizer_keeps_the_started_statistics(frozen):
    env = make("pointmass", episode_length=20)
    start = make_train(env, tiny_config()).init(jax.random.key(0))
    stats = start.obs_stats.update(jnp.ones((8, env.observation_size)))  # as if pretrained
    trainer = make_train(env, tiny_config(total_steps=256, freeze_normalizer=frozen),
                         init_actor={"actor": start.params["actor"], "obs_stats": stats})
    state, _ = jax.jit(trainer.run_chunk)(trainer.init(jax.random.key(1)))
    assert bool(jnp.all(state.obs_stats.mean == stats.mean)) == frozen
    assert (float(state.obs_stats.count) == 8.0) == frozen
    assert float(state.critic_obs_stats.count) == 256.0  # the critic's own: every step seen


def test_obs_clip_and_std_floor_shape_the_actors_inputs():
    env = make("pointmass", episode_length=20)
    trainer = make_train(env, tiny_config())
    params = trainer.init(jax.random.key(0)).params["actor"]
    stats = trainer.init(jax.random.key(0)).obs_stats.update(
        jnp.ones((8, env.observation_size)))  # mean 1, std at the 1e-3 floor
    far = jnp.full(env.observation_size, 0.5)  # -500 sigma
    mean_at = lambda **c: make_train(env, tiny_config(**c)).policy.distribution(  # noqa: E731
        params, stats, far)[0]
    raw = lambda x: trainer.actor.apply(params, x)[0]  # noqa: E731
    chex.assert_trees_all_close(mean_at(), raw(jnp.full(env.observation_size, -10.0)))
    chex.assert_trees_all_close(mean_at(obs_clip=100.0), raw(jnp.full(env.observation_size,
                                                                      -100.0)))
    # A std floor of 1 only centres this feature: -0.5, inside every clip.
    chex.assert_trees_all_close(mean_at(obs_std_floor=1.0), raw(far - 1.0), atol=1e-6)


def test_dropout_updates_reuse_the_rollouts_masks():
    """With dropout, the log-probability the update computes for an unchanged policy is the
    one the rollout stored (PPO's ratio is exactly 1 before the first step); fresh masks
    would give another network and a noisy ratio."""
    env = make("pointmass", episode_length=20)
    trainer = make_train(env, tiny_config(policy_dropout=0.3))
    state = trainer.init(jax.random.key(0))
    _, _, traj, _ = jax.jit(trainer._rollout)(state, jax.random.key(1))
    obs = traj.obs.reshape(-1, env.observation_size)
    u = traj.u.reshape(-1, env.action_size)
    stored = traj.log_prob.reshape(-1)
    keys = jax.random.wrap_key_data(traj.dropout_key.reshape(-1, 2))
    same = gaussian_log_prob(u, *trainer.policy.masked_distribution(
        state.params["actor"], state.obs_stats, obs, keys))
    np.testing.assert_allclose(same, stored, rtol=1e-5, atol=1e-5)
    fresh = gaussian_log_prob(u, *trainer.policy.masked_distribution(
        state.params["actor"], state.obs_stats, obs,
        jax.random.split(jax.random.key(9), obs.shape[0])))
    assert float(jnp.max(jnp.abs(fresh - stored))) > 1e-2
    _, metrics = jax.jit(trainer.iterate)(state)  # and a whole iteration trains with them
    assert bool(jnp.all(jnp.isfinite(metrics["total_loss"])))


def test_init_std_resets_exploration_and_keeps_the_mean():
    env = make("pointmass", episode_length=20)
    first = make_train(env, tiny_config()).init(jax.random.key(0))
    trainer = make_train(env, tiny_config(init_std=0.5),
                         init_actor={"actor": first.params["actor"],
                                     "obs_stats": first.obs_stats})
    state = trainer.init(jax.random.key(1))
    obs = jax.random.normal(jax.random.key(2), (32, env.observation_size))
    mean0, std0 = trainer.policy.distribution(first.params["actor"], first.obs_stats, obs)
    mean, std = trainer.policy.distribution(state.params["actor"], state.obs_stats, obs)
    chex.assert_trees_all_close(mean, mean0)
    assert np.allclose(std, 0.5, atol=1e-5) and not np.allclose(std0, 0.5, atol=1e-2)


def test_critic_warmup_holds_the_actor_back():
    env = make("pointmass", episode_length=20)
    config = tiny_config(eval_every=128, critic_warmup_steps=128)  # one iteration per chunk
    trainer = make_train(env, config)
    chunk = jax.jit(trainer.run_chunk)
    start = trainer.init(jax.random.key(0))
    warm, _ = chunk(start)
    chex.assert_trees_all_equal(warm.params["actor"], start.params["actor"])
    critic = lambda s: s.params["critic"]["params"]["MLP_0"]["Dense_0"]["kernel"]  # noqa: E731
    assert not np.allclose(critic(warm), critic(start))
    after, _ = chunk(warm)
    assert not np.allclose(after.params["actor"]["params"]["MLP_0"]["Dense_0"]["kernel"],
                           warm.params["actor"]["params"]["MLP_0"]["Dense_0"]["kernel"])


def test_adaptive_learning_rate_follows_the_kl():
    env = make("pointmass", episode_length=20)
    rates = {}
    for desired in (1e-9, 10.0):  # every step over the target / every step under it
        config = tiny_config(eval_every=128, lr_schedule="adaptive", desired_kl=desired)
        trainer = make_train(env, config)
        state, metrics = jax.jit(trainer.run_chunk)(trainer.init(jax.random.key(0)))
        rates[desired] = float(state.opt_state[1].hyperparams["learning_rate"])
        assert "learning_rate" in metrics
    start = tiny_config().learning_rate  # one iteration = 2 epochs x 2 minibatch steps
    assert rates[1e-9] == pytest.approx(start / 1.5 ** 4, rel=1e-4)
    assert rates[10.0] == pytest.approx(start * 1.5 ** 4, rel=1e-4)


def test_popart_keeps_the_critics_values_as_its_statistics_move():
    env = make("pointmass", episode_length=20)
    trainer = make_train(env, tiny_config(value_normalization="popart"))
    state = trainer.init(jax.random.key(0))
    obs = jax.random.normal(jax.random.key(1), (64, env.observation_size))
    targets = 40.0 * jax.random.normal(jax.random.key(2), (256,)) - 300.0  # a deep level

    def values(params, stats):
        return trainer._values(params, state.critic_obs_stats, obs, stats)

    before = values(state.params, state.value_stats)
    params, stats, standardised = trainer._renormalize_values(
        state.params, state.value_stats, targets, trainer.config)
    np.testing.assert_allclose(values(params, stats), before, rtol=1e-4, atol=1e-3)
    # The first update sets the scale (no averaging with the initial 0 and 1) ...
    assert float(stats.mean) == pytest.approx(float(jnp.mean(targets)), rel=1e-5)
    assert float(stats.std) == pytest.approx(float(jnp.std(targets)), rel=1e-3)
    # ... and the critic regresses the targets in its units.
    assert abs(float(jnp.mean(standardised))) < 1e-4
    assert float(jnp.std(standardised)) == pytest.approx(1.0, rel=1e-3)
    second = stats.update(targets + 100.0, trainer.config.value_norm_rate)  # the average
    assert float(second.mean) == pytest.approx(float(jnp.mean(targets)) + 50.0, rel=1e-4)
    settled = second.replace(updates=jnp.asarray(1000.0))  # later, an exponential average
    later = settled.update(targets + 100.0, trainer.config.value_norm_rate)
    assert float(later.mean) == pytest.approx(float(second.mean) + 0.05 * 50.0, rel=1e-4)
    # In a run the statistics follow the targets and everything stays finite.
    run_state, metrics = jax.jit(trainer.run_chunk)(state)
    assert bool(metrics["finite"])
    assert float(run_state.value_stats.updates) == trainer.config.iterations_per_eval
    assert float(metrics["value_target_std"]) > 0.0
    with pytest.raises(ValueError, match="value_normalization=none"):
        tiny_config(value_normalization="popart").override(TINY_SAC)


def test_linear_entropy_schedule_anneals_the_bonus_to_zero():
    env = make("pointmass", episode_length=20)
    # 4 iterations of 16 x 8 steps per call, 2 calls in the budget: 1/8 less per iteration.
    config = tiny_config(eval_every=512, total_steps=1024, entropy_schedule="linear",
                         entropy_coef=0.1)
    trainer = make_train(env, config)
    iterate = jax.jit(chex.assert_max_traces(trainer.iterate, n=1))
    state, coefs = trainer.init(jax.random.key(0)), []
    for _ in range(2):
        state, metrics = iterate(state)
        coefs += np.asarray(metrics["entropy_coef"]).tolist()
    assert coefs == pytest.approx([0.1 * (1 - i / 8) for i in range(8)])
    with pytest.raises(ValueError, match="entropy_schedule must be one of constant, linear"):
        tiny_config(entropy_schedule="cosine").validate()


def test_squashed_entropy_matches_the_action_density():
    """The one-sample estimate against quadrature of H[tanh(u)] = H[u] - E[2 log cosh u]: it
    peaks at a moderate std, where the pre-tanh entropy keeps growing."""
    noise = jax.random.normal(jax.random.key(0), (200_000, 1))
    estimates = []
    for std in (0.3, 0.85, 2.0, 4.0):
        u = np.linspace(-12 * std, 12 * std, 200_001)
        density = np.exp(-0.5 * (u / std) ** 2) / (std * np.sqrt(2 * np.pi))
        log_cosh = np.abs(u) + np.log1p(np.exp(-2 * np.abs(u))) - np.log(2)
        exact = (0.5 * np.log(2 * np.pi * np.e * std ** 2)
                 - np.trapezoid(density * 2 * log_cosh, u))
        estimate = float(jnp.mean(squashed_entropy(jnp.zeros_like(noise),
                                                   jnp.full_like(noise, std), noise)))
        assert estimate == pytest.approx(exact, abs=0.02), std
        estimates.append(estimate)
    assert estimates[1] > max(estimates[0], estimates[2]) > estimates[3]
    pre_tanh = [float(gaussian_entropy(jnp.array([s]))) for s in (0.3, 0.85, 2.0, 4.0)]
    assert pre_tanh == sorted(pre_tanh)


def test_action_space_entropy_bonus_keeps_the_std_moderate():
    """A strong bonus on the pre-tanh entropy drives the std up without bound (saturated,
    bang-bang actions); on the squashed action's entropy it settles near its maximum."""
    env = make("pointmass", episode_length=20)
    obs = jax.random.normal(jax.random.key(2), (64, env.observation_size))
    stds = {}
    for space in ("pre_tanh", "action"):
        config = tiny_config(eval_every=4096, entropy_coef=1.0, entropy_space=space,
                             learning_rate=3e-2)
        trainer = make_train(env, config)
        state, metrics = jax.jit(trainer.run_chunk)(trainer.init(jax.random.key(0)))
        _, std = trainer.policy.distribution(state.params["actor"], state.obs_stats, obs)
        stds[space] = float(jnp.median(std))
        assert np.all(np.isfinite(np.asarray(metrics["entropy"])))
    assert stds["pre_tanh"] > 2.0 and 0.4 < stds["action"] < 1.3, stds
    with pytest.raises(ValueError, match="entropy_space must be one of pre_tanh, action"):
        tiny_config(entropy_space="post").validate()


def test_entropy_bonus_on_fallen_states_only():
    """entropy_states=fallen pays the bonus on the rows whose state fails the validity test
    and on no others: on an all-valid minibatch it is 0, on an all-fallen one it is the
    whole bonus of entropy_states=all."""
    env = make("pointmass", episode_length=20)
    trainers = {kind: make_train(env, tiny_config(entropy_states=kind))
                for kind in ("all", "fallen")}
    state = trainers["all"].init(jax.random.key(0))
    traj = trainers["all"]._rollout(state, jax.random.key(1))[2]
    rows = jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), traj)
    zeros = jnp.zeros_like(rows.reward)

    def bonus(kind: str, steps_up: int) -> float:
        batch = rows.replace(steps_up=jnp.full_like(rows.steps_up, steps_up))
        _, metrics = trainers[kind]._loss(state.params, state.obs_stats, state.critic_obs_stats,
                                          batch, zeros, zeros, jax.random.key(2),
                                          trainers[kind].config, state.member)
        return float(metrics["entropy"])

    assert bonus("fallen", 5) == 0.0
    assert bonus("fallen", 0) == pytest.approx(bonus("all", 5)) == pytest.approx(bonus("all", 0))
    assert bonus("all", 0) != 0.0
    with pytest.raises(ValueError, match="entropy_states must be one of all, fallen"):
        tiny_config(entropy_states="valid").validate()


@pytest.mark.parametrize("physics", ["mjx", "native"])
def test_resume_is_exact(tmp_path, physics):
    sets = [a for s in TINY for a in ("--set", s)] + ["--physics", physics]
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    out = cli("train", "pointmass", "--steps", "1024", "--out", str(straight), "--no-progress",
              *sets)
    assert out.returncode == 0, out.stderr
    out = cli("train", "pointmass", "--steps", "512", "--out", str(halves), "--no-progress",
              *sets)
    assert out.returncode == 0, out.stderr
    out = cli("train", "pointmass", "--resume", str(halves), "--steps", "1024", "--no-progress")
    assert out.returncode == 0, out.stderr
    a, _ = load_policy(straight)
    b, _ = load_policy(halves)
    chex.assert_trees_all_equal(a, b)
    lines = [json.loads(x) for x in (halves / "metrics.jsonl").read_text().splitlines()]
    assert [r["eval"] for r in lines] == [1, 2, 3, 4]
    for key in ("step", "wall_s", "sps", "return_mean", "return_std", "policy_loss",
                "value_loss"):
        assert key in lines[0]
    curve = halves / "learning_curve.png"  # redrawn after the resume, over all 4 evaluations
    assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "learning curve" in out.stdout


def test_init_policy_starts_the_actor_from_another_run_with_a_fresh_critic(tmp_path):
    sets = [a for s in TINY for a in ("--set", s)]
    first, second = tmp_path / "first", tmp_path / "second"
    out = cli("train", "pointmass", "--steps", "256", "--out", str(first), "--no-progress",
              *sets)
    assert out.returncode == 0, out.stderr[-2000:]
    # The critic's warm-up outlasts the run: the actor must come out as it went in.
    out = cli("train", "pointmass", "--steps", "256", "--seeds", "2", "--init-policy",
              str(first), "--out", str(second), "--no-progress", *sets,
              "--set", "critic_warmup_steps=100000")
    assert out.returncode == 0, out.stderr[-2000:]
    before, _ = load_policy(first)
    after, _ = load_policy(second)
    for seed in (0, 1):
        chex.assert_trees_all_equal(jax.tree.map(lambda x: x[0], before["actor"]),
                                    jax.tree.map(lambda x, s=seed: x[s], after["actor"]))
    critics = [RunCheckpoints(run) for run in (first, second)]
    states = [c.manager.restore(1) for c in critics]
    for c in critics:
        c.close()
    critic_leaves = [[v for k, v in state.items() if "critic" in k] for state in states]
    assert critic_leaves[0] and not np.allclose(critic_leaves[0][0][0], critic_leaves[1][0][0])
    record = json.loads((second / "config.json").read_text())
    assert record["init_policy"] == {"path": str(first.absolute()), "index": 0}
    out = cli("train", "pointmass", "--resume", str(second), "--steps", "512", "--no-progress")
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads((second / "config.json").read_text())["init_policy"] == \
        record["init_policy"]
    # Refused before any work, with the reason.
    for extra, message in [(["--set", "policy_hidden=8,8"], "architecture"),
                           (["--init-policy-member", "3"], "policy index 3 out of range"),
                           (["--resume", str(second)], "--init-policy starts a run")]:
        out = cli("train", "pointmass", "--init-policy", str(first), *extra)
        assert out.returncode == 2 and message in out.stderr, (extra, out.stderr)
    hopper = Path(__file__).parents[1] / "lamour_jax" / "policies" / "hopper"
    out = cli("train", "pointmass", "--init-policy", str(hopper))
    assert out.returncode == 2 and "was trained on hopper, not pointmass" in out.stderr


def test_tensorboard_mirrors_metrics_across_resumes(tmp_path):
    import shutil

    sets = [a for s in TINY for a in ("--set", s)]
    run = tmp_path / "run"
    out = cli("train", "pointmass", "--steps", "512", "--seeds", "2", "--out", str(run),
              "--no-progress", *sets)
    assert out.returncode == 0, out.stderr
    assert not (run / "tensorboard").exists()  # off unless asked for
    # Asked for on a resume: the two evaluations so far are written too.
    out = cli("train", "pointmass", "--resume", str(run), "--steps", "1024", "--tensorboard",
              "--no-progress")
    assert out.returncode == 0, out.stderr
    # A run stopped after writing evaluations 3-4 but before checkpointing them: the next
    # resume (no flag: the run keeps its TensorBoard files) redoes them, and TensorBoard must
    # show the redone values, not both.
    for k in ("3", "4"):
        shutil.rmtree(run / "checkpoints" / k)
    out = cli("train", "pointmass", "--resume", str(run), "--steps", "1536", "--no-progress")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    for seed in (0, 1):
        board = read_tensorboard(run / "tensorboard" / f"seed_{seed}")
        mine = [r for r in rows if r["member"] == seed]
        for field, tag in (("return_mean", "eval/return_mean"), ("value_loss", "loss/value_loss"),
                           ("sps", "perf/steps_per_second"), ("entropy", "train/entropy"),
                           ("train_return", "train/train_return")):
            assert [step for step, _ in board[tag]] == [256 * k for k in range(1, 7)]
            assert [v for _, v in board[tag]] == pytest.approx([r[field] for r in mine],
                                                               rel=1e-6)


def test_a_new_total_is_flagged_only_where_it_changes_the_schedule():
    linear = tiny_config(total_steps=512, lr_schedule="linear")
    assert "stretched to the new total of 1,024" in linear.budget_change_note(1024)
    assert linear.budget_change_note(512) is None
    assert linear.replace(lr_schedule="adaptive").budget_change_note(1024) is None
    entropy = tiny_config(total_steps=512, entropy_schedule="linear")
    assert "linear entropy-bonus schedule is stretched" in entropy.budget_change_note(1024)
    both = entropy.replace(lr_schedule="linear").budget_change_note(1024)
    assert "linear learning-rate and entropy-bonus schedules are stretched" in both


def test_a_budget_of_few_iterations_is_pointed_out():
    for name in ("hopper", "walker2d", "halfcheetah", "ant", "humanoid", "pointmass"):
        assert train_config(name).few_iterations_note() is None
    # The CPU-sized ant loop on a GPU's env count: 24 iterations of 64 steps x 4,096 envs.
    note = train_config("ant").replace(num_envs=4096).few_iterations_note()
    assert note.startswith("note: 24 PPO iteration(s) of 262,144 env steps each")
    # PPO's advice: SAC learns per gradient step, however few its rollouts.
    assert train_config("ant").replace(num_envs=4096, learner="sac").few_iterations_note() is None


def test_resume_errors_are_clear(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = cli("train", "pointmass", "--resume", str(empty))
    assert out.returncode == 2 and "not a run directory" in out.stderr
    run = tmp_path / "run"
    sets = [a for s in TINY for a in ("--set", s)]
    assert cli("train", "pointmass", "--steps", "512", "--out", str(run), "--no-progress",
               *sets).returncode == 0
    out = cli("train", "pointmass", "--steps", "256", "--out", str(run), *sets)
    assert out.returncode == 2 and "already holds a run" in out.stderr
    # A budget below what the run has done is refused; its own budget, done, is nothing to do.
    # Neither rewrites config.json (a smaller total there would mislead the next resume).
    recorded = (run / "config.json").read_text()
    out = cli("train", "pointmass", "--resume", str(run), "--steps", "256")
    assert out.returncode == 2 and "already trained 512 steps" in out.stderr, out.stderr
    out = cli("train", "pointmass", "--resume", str(run))
    assert out.returncode == 0 and "nothing to do" in out.stderr, out.stderr
    assert "compile" not in out.stdout
    assert (run / "config.json").read_text() == recorded
    for f in (run / "checkpoints" / "2").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    out = cli("train", "pointmass", "--resume", str(run), "--steps", "1024")
    assert out.returncode == 2 and "cannot be restored" in out.stderr
    assert (run / "checkpoints" / "2").exists()  # nothing the user had was deleted or changed
    assert (run / "config.json").read_text() == recorded
    # A run config cut short (a half-written file): a clear error, the file left as it was.
    (run / "config.json").write_text('{"env": "pointmass", "var')
    out = cli("train", "pointmass", "--resume", str(run), "--steps", "512")
    assert out.returncode == 2 and "config.json is damaged" in out.stderr, out.stderr
    assert (run / "config.json").read_text() == '{"env": "pointmass", "var'
    out = cli("train", "pointmass", "--set", "learning_rat=1")
    assert out.returncode == 2 and "learning_rate" in out.stderr


def test_policy_export_is_swapped_in_whole_and_a_damaged_one_is_a_clear_error(tmp_path):
    def policy(value: float) -> dict:
        return {"actor": {"w": jnp.full((3, 2), value)}, "dropout_var_max": jnp.zeros(3)}

    save_policy(tmp_path, policy(1.0), {"seeds": 3})
    save_policy(tmp_path, policy(2.0), {"seeds": 3})  # replaces it, leaving nothing beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy", "policy.json"]
    loaded, meta = load_policy(tmp_path)
    assert float(loaded["actor"]["w"][0, 0]) == 2.0 and meta == {"seeds": 3}
    # A run killed between save_policy's two renames leaves the previous policy whole.
    (tmp_path / "policy").rename(tmp_path / "policy.prev")
    assert float(load_policy(tmp_path)[0]["actor"]["w"][0, 0]) == 2.0
    save_policy(tmp_path, policy(3.0), {"seeds": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy", "policy.json"]
    assert float(load_policy(tmp_path)[0]["actor"]["w"][0, 0]) == 3.0
    (tmp_path / "policy.json").write_text('{"seeds": ')  # cut short
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_policy(tmp_path)


def test_nan_stops_training_and_keeps_last_good_checkpoint(tmp_path):
    config = tiny_config(total_steps=512)
    env = make("pointmass", episode_length=20)
    good = make_train(env, config.replace(total_steps=256))
    run_training(good, tmp_path, progress=False)
    poisoned = make_train(env, config, reward_fn=lambda o, a, n, i: jnp.float32(jnp.nan))
    with pytest.raises(TrainingDiverged, match="checkpoint 1 in .* is intact"):
        run_training(poisoned, tmp_path, resume=True, progress=False)
    report = json.loads((tmp_path / "nan_report.json").read_text())
    assert report["last_good_checkpoint"] == 1
    checkpoints = RunCheckpoints(tmp_path)
    assert checkpoints.latest() == 1
    template = jax.eval_shape(jax.vmap(good.init), jax.random.split(jax.random.key(0), 1))
    _, state = checkpoints.restore(template)
    checkpoints.close()
    chex.assert_tree_all_finite(state.params)


SHARDING_SCRIPT = """
import sys, jax, numpy as np
from lamour_jax.envs import make
from lamour_jax.learner import make_train
from lamour_jax.params import train_config
cfg = train_config("pointmass").override({sets!r}).replace(total_steps=512)
trainer = make_train(make("pointmass", episode_length=20, physics="mjx"), cfg)
state, metrics = jax.jit(trainer.train)(jax.random.key(3))
assert state.env_state.obs.sharding.num_devices == jax.device_count()
leaves = jax.tree.leaves(state.params)
np.savez(sys.argv[1], *[np.asarray(x) for x in leaves], devices=jax.device_count())
"""


@pytest.mark.parametrize("learner", ["ppo", "sac"])
def test_one_and_four_devices_agree(tmp_path, learner):
    script = SHARDING_SCRIPT.format(sets=[*TINY, *(TINY_SAC if learner == "sac" else [])])
    results = []
    for devices in (1, 4):
        env = {**os.environ, "XLA_FLAGS": subprocess_xla_flags(devices)}
        path = tmp_path / f"d{devices}.npz"
        out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                             text=True, timeout=600, env=env)
        assert out.returncode == 0, out.stderr[-2000:]
        results.append(np.load(path))
    one, four = results
    assert int(one["devices"]) == 1 and int(four["devices"]) == 4
    for name in one.files:
        if name != "devices":
            np.testing.assert_allclose(one[name], four[name], rtol=2e-3, atol=2e-4)


def test_cpu_devices_flag_shards_a_run_and_its_resume_says_when_the_count_changes(tmp_path):
    cores = available_cores()
    run = tmp_path / "run"
    sets = [a for s in [*TINY, f"num_envs={8 * cores}"] for a in ("--set", s)]
    out = cli("train", "pointmass", "--steps", "256", "--out", str(run), "--no-progress",
              "--cpu-devices", "auto", "--physics", "mjx", *sets)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"{8 * cores} envs on mjx physics, {cores} device(s)" in out.stderr
    assert json.loads((run / "config.json").read_text())["devices"] == cores
    out = cli("train", "pointmass", "--resume", str(run), "--steps", "512", "--no-progress",
              "--cpu-devices", "1")
    assert out.returncode == 0, out.stderr[-2000:]
    if cores > 1:
        assert f"trained on {cores} device(s) so far and continues on 1" in out.stderr
    assert json.loads((run / "config.json").read_text())["devices"] == 1
    checkpoints = RunCheckpoints(run)
    assert checkpoints.latest() == 2
    checkpoints.close()
    # Bad counts: refused before any work, with the reason.
    out = cli("train", "pointmass", "--cpu-devices", "0")
    assert out.returncode == 2 and "--cpu-devices: must be >= 1" in out.stderr
    out = cli("train", "pointmass", "--cpu-devices", "3", "--physics", "mjx",
              *[a for s in TINY for a in ("--set", s)])
    assert out.returncode == 2 and "num_envs=16 must be a multiple of the 3 devices" in out.stderr
    # The C engine, sharded: each device steps its own slice of the envs through the host
    # callback (left to XLA, one device would step them all while the others waited at their
    # collectives until XLA aborted the process). Same key, same device count: same run.
    runs = []
    for name in ("native-a", "native-b"):
        out = cli("train", "pointmass", "--steps", "256", "--cpu-devices", "2", "--physics",
                  "native", "--out", str(tmp_path / name), "--no-progress", *sets)
        assert out.returncode == 0, out.stderr[-2000:]
        assert f"{8 * cores} envs on native physics, 2 device(s)" in out.stderr
        runs.append((tmp_path / name / "metrics.jsonl").read_text().splitlines())
    strip = [[{k: v for k, v in json.loads(line).items() if k not in ("wall_s", "sps")}
              for line in lines] for lines in runs]
    assert strip[0] == strip[1]


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_keeps_the_last_checkpoint_and_resumes(tmp_path, signame):
    import signal
    import time

    signum = getattr(signal, signame)
    out = tmp_path / "run"
    # The child installs Python's SIGINT handler itself: a shell's background jobs (and some
    # CI runners) start with SIGINT ignored, and Python keeps an inherited "ignore".
    launcher = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "from lamour_jax.cli import main; sys.exit(main(sys.argv[1:]))")
    cmd = [sys.executable, "-c", launcher, "train", "pointmass", "--out", str(out),
           "--steps", "2000000", "--no-progress", *sum((["--set", s] for s in TINY), [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (metrics.exists() and
                                          len(metrics.read_text().splitlines()) >= 3):
        time.sleep(0.5)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "interrupted: checkpoint" in err and f"--resume {out}" in err
    done = len(metrics.read_text().splitlines())
    assert done >= 3
    latest = RunCheckpoints(out).latest()
    assert latest is not None and latest >= done - 1
    # The run continues from there.
    result = cli("train", "pointmass", "--resume", str(out), "--steps", str(256 * (done + 2)),
                 "--no-progress")
    assert result.returncode == 0, result.stderr
    after = [json.loads(line) for line in metrics.read_text().splitlines()]
    evals = [row["eval"] for row in after]
    assert evals == sorted(set(evals)) and evals[-1] == done + 2
    # Wall time carries on from the resumed evaluation rather than restarting at zero.
    walls = [row["wall_s"] for row in after]
    assert walls == sorted(set(walls)), walls


def test_fall_value_bootstrap_keeps_the_value_target_going_after_a_fall():
    """fall_value=bootstrap: a fall that ends an episode still cuts the advantage trace (done)
    but no longer zeroes the value target (termination); with "zero" it does. Both see the
    same rollout, and a fall is in it."""
    env = make("pointmass", episode_length=200)
    trajs = {}
    for kind in ("zero", "bootstrap"):
        trainer = make_train(env, tiny_config(fall_value=kind, init_std=3.0, unroll_length=64,
                                              episode_length=200))
        state = trainer.init(jax.random.key(0))
        trajs[kind] = jax.device_get(trainer._rollout(state, jax.random.key(1))[2])
    zero, boot = trajs["zero"], trajs["bootstrap"]
    np.testing.assert_array_equal(zero.done, boot.done)
    falls = (zero.done > 0) & (zero.termination > 0)
    assert falls.sum() >= 3, "the rollout should contain falls"
    assert np.all(boot.termination == 0.0)
    np.testing.assert_array_equal(zero.termination[zero.done == 0], 0.0)
    with pytest.raises(ValueError, match="fall_value must be one of zero, bootstrap"):
        tiny_config(fall_value="one").validate()
