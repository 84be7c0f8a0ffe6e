"""MuJoCo's C engine inside the compiled program (`--physics native`): the same robots step
alike on both engines, bit for bit again on a rerun, and a learner trains on it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lamour_jax.envs import make
from lamour_jax.envs.native import WARNINGS, NativeData, field
from lamour_jax.learner import make_train
from lamour_jax.params import train_config

pytestmark = pytest.mark.xdist_group("native")


def _rollout(env, keys, actions):
    def body(state, action):
        state = jax.vmap(env.step)(state, action)
        return state, (state.obs, state.reward, state.done)

    start = jax.vmap(env.reset)(keys)
    return start, jax.lax.scan(body, start, actions)[1]


# (env, steps, tolerance on every observation entry): how long the engines stay together from
# the same starts under the same random actions (float32 MJX against float64 C; contacts make
# the walker's and cheetah's trajectories part sooner).
AGREEMENT = [("pointmass", 200, 1e-5), ("hopper", 100, 1e-3), ("walker2d", 100, 1e-2),
             ("halfcheetah", 10, 1e-2)]


@pytest.mark.parametrize("name, steps, tol", AGREEMENT)
def test_native_and_mjx_trajectories_agree(name, steps, tol):
    keys = jax.random.split(jax.random.key(0), 4)
    mjx_env, native_env = make(name, physics="mjx"), make(name, physics="native")
    actions = jax.random.uniform(jax.random.key(1), (steps, 4, mjx_env.action_size),
                                 minval=-1.0, maxval=1.0)
    start_m, (obs_m, rew_m, done_m) = jax.jit(lambda k: _rollout(mjx_env, k, actions))(keys)
    start_n, (obs_n, rew_n, done_n) = jax.jit(lambda k: _rollout(native_env, k, actions))(keys)
    assert isinstance(start_n.data, NativeData)
    np.testing.assert_allclose(start_n.obs, start_m.obs, atol=1e-6)
    np.testing.assert_allclose(obs_n, obs_m, atol=tol)
    np.testing.assert_allclose(rew_n, rew_m, atol=tol)
    assert np.array_equal(done_n, done_m)


# Free-joint robots, from the same states (quaternion unit-length: at reset MJX keeps a sampled
# one as it is, the C engine normalises it): how long every observation entry stays together,
# and (humanoid) its reward while the feet's first contacts already part the two.
FREE_JOINT_AGREEMENT = [("ant", 2, 1e-3, None), ("humanoid", 12, 5e-3, (20, 5e-4))]


@pytest.mark.parametrize("name, steps, tol, reward", FREE_JOINT_AGREEMENT)
def test_native_and_mjx_agree_for_free_joint_robots(name, steps, tol, reward):
    mjx_env, native_env = make(name, physics="mjx"), make(name, physics="native")
    robot = mjx_env.robot
    qpos, qvel = jax.vmap(robot.normal_state)(jax.random.split(jax.random.key(2), 4))
    qpos = qpos.at[:, 3:7].set(qpos[:, 3:7] / jnp.linalg.norm(qpos[:, 3:7], axis=1,
                                                             keepdims=True))
    reward_steps = reward[0] if reward else steps
    actions = jax.random.uniform(jax.random.key(1), (reward_steps, 4, mjx_env.action_size),
                                 minval=-1.0, maxval=1.0)

    def rollout(env):
        def body(state, action):
            state = jax.vmap(env.step)(state, action)
            return state, (state.obs, state.reward)

        keys = jax.random.split(jax.random.key(0), 4)
        return jax.lax.scan(body, jax.vmap(env.reset_to)(keys, qpos, qvel), actions)[1]

    obs_m, rew_m = jax.jit(lambda: rollout(mjx_env))()
    obs_n, rew_n = jax.jit(lambda: rollout(native_env))()
    np.testing.assert_allclose(obs_n[:steps], obs_m[:steps], atol=tol)
    if reward:
        np.testing.assert_allclose(rew_n, rew_m, atol=reward[1])


def test_derived_fields_are_current_after_the_first_call():
    """geom_xpos (the diverse sampler's drop height) and the humanoid's xpos are filled by the
    very first call of a batch, not one call late."""
    mjx_env, native_env = make("hopper", physics="mjx"), make("hopper", physics="native")
    qpos = mjx_env.robot.default_qpos()
    qvel = jnp.zeros(mjx_env.robot.mj_model.nv)
    a = mjx_env.robot.make_data(qpos, qvel)
    b = native_env.robot.make_data(qpos, qvel)
    np.testing.assert_allclose(field(b, "geom_xpos"), field(a, "geom_xpos"), atol=1e-5)
    assert float(jnp.abs(field(b, "geom_xpos")).max()) > 0.5


def test_native_runs_are_bit_identical_and_carry_their_whole_state():
    env = make("hopper", physics="native")
    keys = jax.random.split(jax.random.key(3), 8)
    actions = jax.random.uniform(jax.random.key(4), (30, 8, env.action_size), minval=-1.0,
                                 maxval=1.0)
    run = jax.jit(lambda k, a: _rollout(env, k, a))
    first, second = run(keys, actions)[1], run(keys, actions)[1]
    for x, y in zip(first, second, strict=True):
        assert np.array_equal(np.asarray(x), np.asarray(y))
    # Stepping on from a state taken out of one run and put back equals stepping straight on:
    # nothing of the physics lives outside the env state (the solver's warm start included).
    step = jax.jit(jax.vmap(env.step))
    start = jax.jit(jax.vmap(env.reset))(keys)
    straight = step(step(start, actions[0]), actions[1])
    middle = step(start, actions[0])
    middle = middle.replace(data=jax.tree.map(lambda x: jnp.asarray(np.asarray(x)), middle.data))
    assert np.array_equal(np.asarray(step(middle, actions[1]).data.state),
                          np.asarray(straight.data.state))


def test_a_learner_trains_on_native_physics_in_one_program():
    config = train_config("pointmass").replace(total_steps=40_960)
    env = make("pointmass", episode_length=config.episode_length, physics="native")
    _, metrics = jax.jit(make_train(env, config).train)(jax.random.key(0))
    returns = np.asarray(metrics["return_mean"])
    assert returns[-1] > 75.0, returns
    # Several seeds of envs: the callback takes any number of leading axes.
    seeds = jax.jit(jax.vmap(make_train(env, config.replace(total_steps=1024)).init))(
        jax.random.split(jax.random.key(1), 2))
    assert seeds.env_state.data.state.shape[:2] == (2, config.num_envs)


def test_train_records_its_engine_and_a_resume_keeps_it(tmp_path, capsys):
    from lamour_jax.cli import main

    tiny = ["--set", "num_envs=16", "--set", "unroll_length=8", "--set", "num_minibatches=2",
            "--set", "eval_every=128", "--set", "eval_envs=4", "--set", "episode_length=20"]
    out = tmp_path / "run"
    assert main(["train", "pointmass", "--physics", "native", "--steps", "128", "--out",
                 str(out), "--no-progress", *tiny]) == 0
    assert "on native physics" in capsys.readouterr().err
    import json

    assert json.loads((out / "config.json").read_text())["physics"] == "native"
    assert json.loads((out / "policy.json").read_text())["physics"] == "native"
    assert main(["train", "pointmass", "--resume", str(out), "--physics", "mjx"]) == 2
    assert "trains on --physics native" in capsys.readouterr().err
    assert main(["train", "pointmass", "--resume", str(out), "--steps", "256",
                 "--no-progress"]) == 0
    assert main(["evaluate", str(out), "--episodes", "2"]) == 0
    assert "| pointmass | normal | native | 2 |" in capsys.readouterr().out
    # A recovery of that policy on the C engine, and a resume that asks for the other one.
    rec = tmp_path / "rec"
    assert main(["recover", "pointmass", "--policy", str(out), "--method", "zero",
                 "--physics", "native", "--steps", "256", "--out", str(rec), "--no-progress",
                 *tiny]) == 0
    assert "on native physics" in capsys.readouterr().err
    assert json.loads((rec / "config.json").read_text())["physics"] == "native"
    assert main(["recover", "pointmass", "--resume", str(rec), "--physics", "mjx"]) == 2


def test_the_diverse_sampler_settles_fallen_states_on_the_c_engine():
    from lamour_jax.envs import OODSampler, robot

    r = robot("hopper", "native")
    qpos, qvel = jax.jit(OODSampler(r, "diverse").sample, static_argnums=1)(
        jax.random.key(0), 16)
    assert not bool(jnp.any(jax.vmap(r.is_valid)(qpos, qvel)))  # every state is fallen
    assert float(jnp.max(jnp.abs(qvel))) < 5.0  # and resting after the settle


def test_sample_and_render_take_the_engine(tmp_path):
    from lamour_jax.cli import main

    states = tmp_path / "s.npz"
    assert main(["sample", "hopper", "--mode", "diverse", "--n", "4", "--physics", "native",
                 "--out", str(states)]) == 0
    with np.load(states) as z:
        assert z["obs"].shape == (4, 11) and not z["valid"].any()
    gif = tmp_path / "roll.gif"
    assert main(["render", "hopper", "--steps", "3", "--width", "64", "--height", "48",
                 "--physics", "native", "--out", str(gif)]) == 0
    assert gif.stat().st_size > 0


def test_a_blown_up_simulation_ends_its_episode_as_on_mjx(capfd, tmp_path, monkeypatch):
    """The C engine resets an unstable simulation to the model's defaults with a warning; the
    env must instead see it diverge (non-finite guard: episode cut, observation kept), and
    the user read one line of ours, not MuJoCo's line per simulation and its log file."""
    monkeypatch.chdir(tmp_path)
    unsaid = not any("QACC" in kind for kind in WARNINGS._said)  # said once per process
    env = make("hopper", physics="native")
    qpos = env.robot.default_qpos()
    calm = jnp.zeros(env.robot.mj_model.nv)
    keys = jax.random.split(jax.random.key(0), 2)
    start = jax.jit(jax.vmap(env.reset_to))(keys, jnp.stack([qpos, qpos]),
                                            jnp.stack([calm, calm.at[2].set(1e9)]))
    after = jax.jit(jax.vmap(env.step))(start, jnp.zeros((2, env.action_size)))
    assert after.info["diverged"].tolist() == [0.0, 1.0]
    assert after.done.tolist() == [0.0, 1.0]
    np.testing.assert_array_equal(after.obs[1], start.obs[1])
    assert np.all(np.isfinite(np.asarray(after.obs)))
    # The engine resets a row's warning counters before counting: a second blow-up in the
    # same row, and a diverged state stepped on (what an evaluation does after its episode
    # ended), must be seen too, and give a zero reward, not NaN.
    step = jax.jit(jax.vmap(env.step))
    again, on = step(start, jnp.zeros((2, env.action_size))), step(after, jnp.zeros((2, 3)))
    assert again.info["diverged"].tolist() == [0.0, 1.0]
    assert on.info["diverged"].tolist()[1] == 1.0 and on.reward.tolist()[1] == 0.0
    assert np.all(np.isfinite(np.asarray(on.info["original_reward"])))
    out, err = capfd.readouterr()
    assert "WARNING" not in out + err and not (tmp_path / "MUJOCO_LOG.TXT").exists()
    if unsaid:
        assert ("warning: MuJoCo's C engine: Nan, Inf or huge value in QACC in 1 env(s) (the "
                "simulation is unstable): those episodes are cut") in err


def test_the_default_engine_follows_the_backend_and_older_records_read_as_mjx(tmp_path, capsys):
    import json

    from lamour_jax.cli import main
    from lamour_jax.envs import default_physics

    expected = "native" if jax.default_backend() == "cpu" else "mjx"
    assert default_physics() == expected and make("pointmass").robot.physics == expected
    out = tmp_path / "run"
    assert main(["train", "pointmass", "--steps", "128", "--out", str(out), "--no-progress",
                 "--set", "num_envs=16", "--set", "unroll_length=8", "--set", "eval_every=128",
                 "--set", "eval_envs=4"]) == 0
    assert f"on {expected} physics" in capsys.readouterr().err
    record = json.loads((out / "config.json").read_text())
    assert record["physics"] == expected
    # A run from before the choice existed names no engine: it ran on MJX, and goes on there.
    del record["physics"]
    (out / "config.json").write_text(json.dumps(record))
    assert main(["train", "pointmass", "--resume", str(out), "--physics", "native"]) == 2
    assert "trains on --physics mjx" in capsys.readouterr().err
