"""The six Normal/OOD env pairs against spec §2: sizes, layouts, validity, masking,
delayed termination, finiteness over full episodes."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fast_compile import optimised_jit

from lamour_jax.envs import ENV_NAMES, PHYSICS, UnknownNameError, make, robot
from lamour_jax.envs.base import UP_FROM_START
from lamour_jax.envs.rollout import rollout

# Long random-action rollouts: their time is physics, so they get an optimised program.
optimised_rollout = optimised_jit(rollout, static_argnums=(0, 3), static_argnames=("random",))

SIZES = {"ant": (111, 8), "halfcheetah": (17, 6), "hopper": (11, 3), "walker2d": (17, 6),
         "humanoid": (67, 21), "pushchair": (65, 14)}
DT = {"ant": 0.05, "halfcheetah": 0.05, "hopper": 0.008, "walker2d": 0.008, "humanoid": 0.025,
      "pushchair": 0.05}
EPISODE = {"pushchair": 400}  # the others: 1000
BATCH = 4


@pytest.mark.parametrize("name", ENV_NAMES)
def test_sizes_and_timing(name, env_factory):
    env = env_factory(name)
    assert (env.observation_size, env.action_size) == SIZES[name]
    assert env.dt == pytest.approx(DT[name])
    assert env.episode_length == EPISODE.get(name, 1000)
    state = jax.jit(env.reset)(jax.random.key(0))
    chex.assert_shape(state.obs, (SIZES[name][0],))


@pytest.mark.parametrize("name", ENV_NAMES)
def test_obs_fields_tile_the_observation(name):
    """The LLM-facing doc names every observation index exactly once."""
    r = robot(name)
    covered = np.zeros(r.observation_size, int)
    for f in r.obs_fields():
        covered[f.start:f.start + f.size] += 1
    np.testing.assert_array_equal(covered, 1)
    doc = make(name).describe()
    assert f"length {r.program_state_size}" in doc and f"length {r.action_size}" in doc


def _starts(name, kind, n, seed=0):
    r = robot(name)
    keys = jax.random.split(jax.random.key(seed), n)
    fn = r.normal_state if kind == "normal" else r.ood_paper_state
    qpos, qvel = jax.vmap(fn)(keys)
    return qpos, qvel, np.asarray(jax.vmap(r.is_valid)(qpos, qvel))


@pytest.mark.parametrize("name", ENV_NAMES)
def test_normal_starts_valid_and_paper_ood_starts_invalid(name):
    *_, normal_valid = _starts(name, "normal", 64)
    *_, ood_valid = _starts(name, "ood", 64)
    assert normal_valid.all()
    assert not ood_valid.any()


# The condition each env's paper OOD start is known to fail (spec §2's poses).
FAILS_AT_PAPER_START = {"ant": "|roll|, |pitch| <= pi/2", "halfcheetah": "|rooty| <= pi/2",
                        "hopper": "z > 0.7", "walker2d": "z > 0.9", "humanoid": "z > 1.0",
                        "pushchair": "chair tilt <= 0.1 pi"}


@pytest.mark.parametrize("name", ENV_NAMES)
def test_validity_is_its_named_conditions(name):
    """The validity test is the conjunction of named conditions (a diagnosis reports which one
    ended an episode): every Normal start passes all, every paper OOD start fails the one its
    pose breaks."""
    r = robot(name)
    for kind in ("normal", "ood"):
        qpos, qvel, valid = _starts(name, kind, 16)
        conditions = {k: np.asarray(v) for k, v in
                      jax.vmap(r.validity_conditions)(qpos, qvel).items()}
        np.testing.assert_array_equal(valid, np.all(list(conditions.values()), axis=0))
        if kind == "normal":
            assert all(v.all() for v in conditions.values())
        else:
            assert not conditions[FAILS_AT_PAPER_START[name]].any()


def test_paper_layouts_match_spec():
    """The paper's reward programs index these layouts; the key entries must mean what the
    spec says (heights in the Gym convention, angles, the humanoid's head and torso-up)."""
    def obs_of(name, qpos):
        r = robot(name)
        return np.asarray(r.observe(r.make_data(qpos, jnp.zeros(r.mj_model.nv))))

    for name in ("hopper", "walker2d"):
        r = robot(name)
        assert obs_of(name, r.default_qpos())[0] == pytest.approx(1.25)  # torso height
        q, _ = r.ood_paper_state(jax.random.key(0))
        o = obs_of(name, q)
        assert o[0] == pytest.approx(0.10, abs=6e-3)
        assert abs(o[1]) == pytest.approx(abs(r.ood_qpos[2]), abs=6e-3)
    r = robot("hopper", "mjx")  # MJX data carries every body position
    data = r.make_data(r.default_qpos(), jnp.zeros(r.mj_model.nv))
    torso = r.mj_model.body("torso").id
    assert float(data.xpos[torso, 2]) == pytest.approx(1.25, abs=1e-5)  # qpos[1] is height

    h = robot("humanoid")
    standing = obs_of("humanoid", h.default_qpos())
    assert standing[21] > 1.5 and standing[36] == pytest.approx(1.0, abs=1e-5)
    q, _ = h.ood_paper_state(jax.random.key(0))
    lying = obs_of("humanoid", q)
    assert lying[21] < 0.4 and abs(lying[36]) < 0.1

    a = robot("ant")
    assert obs_of("ant", a.default_qpos())[0] == pytest.approx(0.75)
    q, _ = a.ood_paper_state(jax.random.key(0))
    np.testing.assert_allclose(obs_of("ant", q)[:5], [0.25, 0, 1, 0, 0], atol=1e-6)


@pytest.mark.parametrize("name", ENV_NAMES)
@pytest.mark.parametrize("physics", PHYSICS)
def test_ood_episode_masked_finite_and_not_terminated_early(name, physics, env_factory):
    """1000 random-action steps from OOD starts: finite, reward 0 whenever invalid, the
    unmasked reward kept, no termination before the first valid state, truncation at 1000;
    on both engines."""
    env = env_factory(name, "ood", physics=physics, episode_length=1000)  # pushchair's: 400
    state = jax.vmap(env.reset)(jax.random.split(jax.random.key(1), BATCH))
    _, tr = optimised_rollout(env, state, jax.random.key(2), 1000)
    tr = jax.tree.map(np.asarray, tr)
    assert np.isfinite(tr["obs"]).all() and np.isfinite(tr["qpos"]).all()
    invalid = ~tr["valid"]
    assert (tr["reward"][invalid] == 0).all()
    assert (np.abs(tr["original_reward"][invalid]) > 0).any()  # unmasked reward is kept
    recovered_before = np.concatenate(
        [np.zeros((1, BATCH), bool), tr["recovered_once"][:-1]], axis=0)
    early_done = (tr["done"][:-1] > 0) & ~recovered_before[:-1]
    assert not early_done.any()
    first_done = np.argmax(tr["done"] > 0, axis=0)
    never_recovered = ~tr["recovered_once"][-1]
    # An episode that never recovered ends exactly at the time limit, as a truncation.
    assert (first_done[never_recovered] == 999).all()
    assert (tr["truncation"][999][never_recovered] == 1).all()
    _assert_streak_counts_valid_steps(state, tr)


def _assert_streak_counts_valid_steps(start, trace):
    """`steps_up` counts the valid steps since getting up, 0 on an invalid one; a start that
    is valid reads UP_FROM_START (it never got up)."""
    streak = np.asarray(start.info["steps_up"])
    np.testing.assert_array_equal(streak, np.where(start.info["valid"], UP_FROM_START, 0))
    for t, valid in enumerate(np.asarray(trace["valid"])):
        streak = np.where(valid, streak + 1, 0)
        np.testing.assert_array_equal(np.asarray(trace["steps_up"][t]), streak)


def test_ood_termination_applies_after_first_valid_state(env_factory):
    """Delayed termination ends at the first valid state: from a valid start, the first
    invalid state terminates the OOD episode, like the Normal env (random hopper falls)."""
    for variant in ("ood", "normal"):
        env = env_factory("hopper", variant)
        r = env.robot
        qpos, qvel = jax.vmap(r.normal_state)(jax.random.split(jax.random.key(3), BATCH))
        state = jax.vmap(env.reset_to)(jax.random.split(jax.random.key(4), BATCH), qpos, qvel)
        assert np.asarray(state.info["recovered_once"]).all()
        _, tr = optimised_rollout(env, state, jax.random.key(5), 300)
        done, valid = np.asarray(tr["done"]) > 0, np.asarray(tr["valid"])
        assert done.any(axis=0).all(), "random hopper should fall within 300 steps"
        first_done = np.argmax(done, axis=0)
        first_invalid = np.argmax(~valid, axis=0)
        np.testing.assert_array_equal(first_done, first_invalid)
        assert (np.asarray(tr["truncation"])[first_done, np.arange(BATCH)] == 0).all()
        _assert_streak_counts_valid_steps(state, tr)
        assert (np.asarray(state.info["steps_up"]) == UP_FROM_START).all()


def test_reward_definitions():
    """Task rewards follow spec §2 on a known transition (zero action, one step)."""
    for name, bonus in (("hopper", 1.0), ("walker2d", 1.0), ("halfcheetah", 0.0)):
        r = robot(name)
        before = r.make_data(r.default_qpos(), jnp.zeros(r.mj_model.nv))
        after = r.make_data(r.default_qpos().at[0].add(0.01), jnp.zeros(r.mj_model.nv))
        action = jnp.full(r.action_size, 0.5)
        reward, terms = r.task_reward(before, after, action)
        ctrl = {"hopper": 1e-3, "walker2d": 1e-3, "halfcheetah": 0.1}[name]
        expect = 0.01 / r.dt + bonus - ctrl * 0.25 * r.action_size
        assert float(reward) == pytest.approx(expect, rel=1e-5)
        assert float(terms["x_velocity"]) == pytest.approx(0.01 / r.dt, rel=1e-5)


def test_ant_contact_forces_are_computed(env_factory):
    """The 84 contact-force entries come from MJX (rne_postconstraint), not zeros."""
    env = env_factory("ant")
    state = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), BATCH))
    _, trace = rollout(env, state, jax.random.key(1), 20, random=False)
    forces = np.asarray(trace["obs"][-5:, :, 27:])  # resting on its feet after the drop
    assert (np.abs(forces).max(axis=(0, 2)) > 0.05).all()
    assert np.abs(forces).max() <= 1.0
    assert (np.abs(forces[..., :6]) == 0).all()  # the world body's row stays zero


def test_humanoid_run_reward_is_dmc_shaped():
    r = robot("humanoid")
    data = r.make_data(r.default_qpos(), jnp.zeros(r.mj_model.nv))
    reward, terms = r.task_reward(data, data, jnp.zeros(r.action_size))
    # Standing still upright: standing = upright = small_control = 1, move = 1/6.
    assert float(terms["standing"]) == pytest.approx(1.0)
    assert float(terms["upright"]) == pytest.approx(1.0)
    assert float(reward) == pytest.approx(1 / 6, rel=1e-4)
    q, _ = r.ood_paper_state(jax.random.key(0))
    lying = r.make_data(q, jnp.zeros(r.mj_model.nv))
    assert float(r.task_reward(lying, lying, jnp.zeros(r.action_size))[0]) < 0.01


def test_step_does_not_retrace_in_a_python_loop(env_factory):
    """Stepping a jitted env in a Python loop compiles once for stepped states. (A state
    straight out of a *separately* jitted reset costs one more trace, once: identical avals
    and treedefs, cause not yet found; inside the learner's single scan it cannot occur.)"""
    env = env_factory("hopper", "ood")

    @jax.jit
    @chex.assert_max_traces(n=2)
    def step(state, action):
        return env.step(state, action)

    state = jax.jit(env.reset)(jax.random.key(0))
    for i in range(6):
        state = step(state, jnp.full(env.action_size, 0.1 * i))
    assert int(state.info["steps"]) == 6


def test_bad_names_list_the_valid_ones():
    with pytest.raises(UnknownNameError, match="hopper"):
        make("hoper")
    with pytest.raises(UnknownNameError, match="paper, diverse"):
        make("hopper", "ood", "weird")
    with pytest.raises(UnknownNameError, match="normal, ood"):
        make("hopper", "broken")


def test_halfcheetah_validity_uses_raw_angle():
    r = robot("halfcheetah")
    q = r.default_qpos()
    zero = jnp.zeros(r.mj_model.nv)
    assert bool(r.is_valid(q.at[2].set(math.pi / 2 - 1e-3), zero))
    assert not bool(r.is_valid(q.at[2].set(2 * math.pi - 0.1), zero))  # a full flip, unwrapped


def test_pushchair_programs_read_the_papers_five_numbers():
    """Reward programs see [ee distance, target distance, tilt, speed, spin] (spec §2), the
    policy the whole observation; the paper's staged program runs on it through the same
    candidate set that training switches between."""
    from lamour_jax.rewards import reference_source
    from lamour_jax.transpile import candidate_set, transpile

    env = make("pushchair", "ood")
    r = env.robot
    assert env.program_state_size == 5 and "length 5" in env.describe()
    zero = jnp.zeros(r.mj_model.nv)
    q_ood, _ = r.ood_paper_state(jax.random.key(0))
    q_normal, _ = r.normal_state(jax.random.key(0))
    q_at, _ = r.recovered_state(jax.random.key(0))  # palms against the backrest
    obs = jnp.stack([r.observe(r.make_data(q, zero)) for q in (q_ood, q_normal, q_at)])
    state = np.asarray(env.program_state(obs))
    assert state.shape == (3, 5)
    # knocked over onto its back about 1 m from the target; upright at a Normal start
    assert state[0, 2] == pytest.approx(math.pi / 2, abs=0.15)
    assert state[0, 1] == pytest.approx(1.0, abs=0.15) and state[1, 1] == pytest.approx(1.0,
                                                                                        abs=0.15)
    assert state[1, 2] == pytest.approx(0.0, abs=1e-5) and state[2, 0] < 0.1 < state[1, 0]
    assert np.all(state[:, 3:] == 0)  # at rest
    program = transpile(reference_source("pushchair"), 5, env.action_size)
    assert [int(program.is_recovered(s)) for s in state] == [0, 0, 1]
    cands = candidate_set([program], env.program_state)
    action = jnp.zeros(env.action_size)
    for o, s in zip(obs, state, strict=True):
        assert float(cands.calculate_reward(0, o, action)) == pytest.approx(
            float(program.calculate_reward(s, action)))


def test_pushchair_reward_success_and_tipping(env_factory):
    """The Normal env pays for reaching, pushing and keeping the chair upright, counts success
    at the target, and ends when the chair tips past 0.1 pi; the OOD env masks that reward."""
    env = env_factory("pushchair")
    r = env.robot
    q, v = r.normal_state(jax.random.key(0))
    start = env.reset_to(jax.random.key(1), q, v)
    assert float(start.info["valid"]) == 1.0
    data = start.data
    _, terms = r.task_reward(data, data, jnp.zeros(env.action_size))
    assert float(terms["success"]) == 0.0 and float(terms["upright"]) == pytest.approx(1.0)
    chair = r.chair_q
    at_target = q.at[chair:chair + 2].set(jnp.array([0.05, 0.0]))
    d = r.make_data(at_target, v)
    reward, terms = r.task_reward(data, d, jnp.zeros(env.action_size))
    assert float(terms["success"]) == 1.0 and float(reward) > 4.0
    tipped = q.at[chair + 2:chair + 7].set(  # tilted 0.6 rad, held clear of the floor
        jnp.array([0.3, math.cos(0.3), math.sin(0.3), 0.0, 0.0]))
    assert not bool(r.is_valid(tipped, v))  # 0.6 rad > 0.1 pi
    step = jax.jit(env.step)
    state = env.reset_to(jax.random.key(1), tipped, v)
    assert float(step(state, jnp.zeros(env.action_size)).done) == 1.0


@pytest.mark.parametrize("speed", [0.2, 1.0])
def test_pushchair_can_be_pushed_by_its_backrest_without_tipping(speed):
    """The task is learnable only if a push does what it does in a room: a robot driving
    straight at the backrest moves the chair towards the target and the chair stays upright
    (a solver that does not converge on the caster contacts, or palms that catch the
    backrest's edge, throw it over). MuJoCo's C engine, the Normal layout's noisy starts."""
    import mujoco

    r = robot("pushchair")
    m = r.mj_model
    pushed = []
    for seed in range(4):
        q, _ = r.normal_state(jax.random.key(seed))
        data = mujoco.MjData(m)
        data.qpos[:] = np.asarray(q)
        yaw = data.qpos[2]  # the robot faces the target from any side: drive along it
        data.ctrl[:2] = speed * np.cos(yaw), speed * np.sin(yaw)  # arms held at rest
        start = data.qpos[r.chair_q:r.chair_q + 2].copy()
        to_target = -start / np.linalg.norm(start)
        tilt = 0.0
        for _ in range(round(2.5 / speed / m.opt.timestep)):  # far enough to reach and push
            mujoco.mj_step(m, data)
            tilt = max(tilt, float(r.chair_tilt(jnp.asarray(data.qpos))))
        assert tilt < 0.1, (seed, tilt)
        pushed.append((data.qpos[r.chair_q:r.chair_q + 2] - start) @ to_target)
    # towards the target; a chair set at an angle slides off a straight push (steering is
    # the policy's)
    assert min(pushed) > 0.1 and np.mean(pushed) > 0.4, pushed


@pytest.mark.parametrize("physics", PHYSICS)
def test_pushchair_arms_move_at_a_bounded_rate_and_the_base_in_its_heading(physics):
    """A full arm action moves a joint's servo target at ARM_TARGET_RATE half-ranges per
    second and no faster, the joint follows at under 2 rad/s (position servos that jumped to
    their targets let an arm flick a lying chair up at over 10 rad/s), the target holds at a
    zero action, and the base's speed commands are forward and sideways in its own heading."""
    from lamour_jax.envs.pushchair import _ARM_JOINTS, ARM_TARGET_RATE

    env = make("pushchair", "normal", physics=physics)
    r = env.robot
    step = jax.jit(env.step)
    state = env.reset_to(jax.random.key(0), *r.normal_state(jax.random.key(5)))
    yaw = float(state.data.qpos[2])
    full = np.zeros(env.action_size)
    full[0], full[4:12] = 1.0, 1.0  # forward at 1 m/s, every arm target up at full rate
    start_xy, speeds, targets = np.asarray(state.data.qpos[:2]), [], []
    for _ in range(10):
        state = step(state, jnp.asarray(full))
        speeds.append(np.abs(np.asarray(state.data.qvel[4:12])))
        targets.append(np.asarray(r.arm_target_positions(state.data)))
    per_step = np.diff(np.array(targets), axis=0)
    np.testing.assert_allclose(per_step, ARM_TARGET_RATE * r.dt, atol=1e-4)
    assert np.max(speeds) < 2.0, np.max(speeds, axis=0)
    assert np.max(speeds) > 0.5  # the joints do follow
    moved = np.asarray(state.data.qpos[:2]) - start_xy
    heading = np.array([np.cos(yaw), np.sin(yaw)])
    sideways = heading[0] * moved[1] - heading[1] * moved[0]
    assert moved @ heading > 0.3 and abs(sideways) < 0.05, (yaw, moved)
    held = np.asarray(r.arm_target_positions(state.data))
    for _ in range(5):
        state = step(state, jnp.zeros(env.action_size))
    np.testing.assert_allclose(np.asarray(r.arm_target_positions(state.data)), held, atol=1e-6)
    assert len(held) == 2 * len(_ARM_JOINTS)


@pytest.mark.parametrize("physics", PHYSICS)
def test_pushchair_grip_takes_hold_only_within_reach_and_sets_the_chair_upright(physics):
    """The grip actions are the only way to right a knocked-over chair: a positive command
    takes hold of the nearest grip point, only within GRIP_REACH; held by its backrest the
    chair follows the arm up to a valid tilt, on both engines; a hold survives a wavering
    command and a command below GRIP_RELEASE lets go."""
    from lamour_jax.envs.native import field
    from lamour_jax.envs.pushchair import GRIP_REACH, GRIP_RELEASE

    env = make("pushchair", "ood", physics=physics)
    r = env.robot
    step = jax.jit(env.step)
    state = jax.jit(env.reset)(jax.random.key(0))
    assert float(jnp.min(r.grip_point_distances(state.data))) > GRIP_REACH
    # Lift down, shoulders and elbows towards the floor, both grips closed at first.
    down = dict(lift=-1.0, arms=[0, 0.6, 0.3, 0, 0, 0.6, 0.3, 0])
    state = step(state, r.scripted_action(state.data, grips=(1, 1), **down))
    assert np.all(np.asarray(r.holding(state.data)) == 0.0)  # out of reach: no hold
    # Then torso and shoulders up, backing off while the chair is still low, the left palm
    # keeping hold.
    up = dict(lift=1.0, arms=[0, -0.5, 0, 0, 0, -0.5, 0, 0], grips=(1, 0))
    tilt = []
    for t in range(200):
        yaw = float(state.data.qpos[2])
        turn = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]])
        if float(r.holding(state.data)[0]) == 0.0:
            assert t < 60, "the left palm never took hold"
            ahead, side = turn @ np.asarray(r.grip_offsets(state.data))[0, :2]
            drive = np.clip(4.0 * np.array([ahead, side]), -0.3, 0.3)  # to the hold
            # The left grip closed once the arm is down: a hold taken on the way down drags
            # the chair along half raised.
            lowered = np.allclose(r.arm_target_positions(state.data), down["arms"], atol=0.01)
            action = r.scripted_action(state.data, base=(*drive, 0), grips=(lowered, 0),
                                       **down)
        else:
            low = float(r.chair_tilt(state.data.qpos)) > 0.2
            action = r.scripted_action(state.data, base=(-0.3 * low, 0, 0), **up)
        was_holding = float(r.holding(state.data)[0])
        distances = np.asarray(r.grip_point_distances(state.data))[0]
        state = step(state, action)
        if float(r.holding(state.data)[0]) == 1.0:
            tilt.append(float(r.chair_tilt(state.data.qpos)))
            if not was_holding:  # taken: the nearest grip point, the only one switched on
                active = np.flatnonzero(np.asarray(field(state.data, "eq_active")) > 0.5)
                assert active.tolist() == [int(np.argmin(distances))], (active, distances)
                assert distances.min() < GRIP_REACH
    assert float(r.holding(state.data)[1]) == 0.0  # the right palm never came within reach
    assert tilt[-1] < math.pi * 0.1 and bool(state.info["valid"]), tilt[::20]
    # A palm holding the backrest is on it: its gap, the reward programs' ee distance, is
    # about 0 (a ManiSkill2 finger on the chair reads 0; the paper's programs test < 0.1).
    assert float(r.palm_distances(state.data)[0]) < 0.01
    for waver in (0.0, -0.5, GRIP_RELEASE):
        state = step(state, r.scripted_action(state.data, **{**up, "grips": (waver, 0)}))
        assert float(r.holding(state.data)[0]) == 1.0, waver
    let_go = r.scripted_action(state.data, **{**up, "grips": (GRIP_RELEASE - 0.05, 0)})
    assert float(r.holding(step(state, let_go).data)[0]) == 0.0


def test_pushchair_success_is_counted_at_each_episodes_end():
    """Evaluation reports the share of episodes that end with the chair on the target and
    upright; a chair left standing on the target succeeds, one 1 m away does not."""
    from lamour_jax.envs.base import Env
    from lamour_jax.learner.evaluate import evaluate_episodes, summarize

    r = robot("pushchair")
    chair = r.chair_q

    def on_target(key):
        q, v = r.normal_state(key)
        return q.at[chair:chair + 2].set(jnp.array([0.05, 0.0])), v

    still = lambda obs: jnp.zeros((obs.shape[0], r.action_size))  # noqa: E731
    for reset_fn, expect in ((on_target, 1.0), (r.normal_state, 0.0)):
        env = Env(r, "normal", reset_fn=reset_fn, episode_length=20)
        out = jax.device_get(jax.jit(lambda k, env=env: evaluate_episodes(env, still, k, 4))(
            jax.random.key(0)))
        assert summarize(out, 4)["success_rate"] == expect
    assert "success_rate" not in summarize(jax.device_get(jax.jit(
        lambda k: evaluate_episodes(make("hopper"), lambda o: jnp.zeros((4, 3)), k, 4))(
            jax.random.key(0))), 4)
