"""Functional MJX environments: a `Robot` (physics, observation, reward, validity, poses) and
an `Env` that turns a robot into its Normal or OOD variant (spec §2).

Everything here is pure JAX: `reset`, `reset_to` and `step` jit and vmap; nothing reads a
traced value in Python.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import mujoco
from flax import struct

from lamour_jax.envs import PHYSICS
from lamour_jax.envs.physics import FIXED_CAMERA, mjx
from lamour_jax.envs.rotations import random_unit_quat

Variant = Literal["normal", "ood"]
ResetFn = Callable[[jax.Array], tuple[jax.Array, jax.Array]]


@struct.dataclass
class State:
    """One env's state. `done`, `reward` and `info['truncation']` describe the last transition.

    info keys:
      rng             per-env key, used by auto-reset to draw the next episode's start
      steps           steps taken in this episode
      valid           the env's own validity ("healthy") test on the current state
      recovered_once  the state has passed the validity test at least once this episode
      steps_up        steps the state has stayed valid since it got up (turned valid after an
                      invalid state), this one included; 0 while invalid. An episode that
                      starts valid did not get up: it reads UP_FROM_START. A consolidation
                      gate can ask for a settled recovery instead of its first valid step.
      original_reward the unmasked task reward of the last transition
      truncation      1.0 when the episode ended by the time limit (bootstrap, do not cut)
      diverged        1.0 when a step produced a non-finite state, observation or task reward
                      (the episode is cut)
    """

    data: Any  # mjx.Data, or envs.native.NativeData on the C engine
    obs: jax.Array
    reward: jax.Array
    done: jax.Array
    metrics: dict[str, jax.Array]
    info: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ObsField:
    """One entry (or a block of entries) of the observation vector, for the LLM-facing doc."""

    start: int
    size: int
    name: str
    meaning: str
    unit: str


# `State.info['steps_up']` of an episode that starts valid (it never got up): beyond any hold.
UP_FROM_START = 1 << 20


def episode_start_info(key: jax.Array, valid: jax.Array) -> dict[str, Any]:
    """`State.info` at the start of an episode (the keys are documented on `State`)."""
    zero = jnp.zeros((), jnp.float32)
    return {"rng": key, "steps": jnp.zeros((), jnp.int32), "valid": valid,
            "recovered_once": valid, "steps_up": jnp.where(valid, UP_FROM_START, 0),
            "original_reward": zero, "truncation": zero,
            "diverged": zero}


class Robot:
    """A MuJoCo model plus everything task-specific about it. Subclasses fill in the rest."""

    name: str
    task: str  # the original task, in words (the reason stage's input)
    n_frames: int
    observation_size: int
    mj_model: mujoco.MjModel
    mjx_model: mjx.Model
    # The fixed camera: where it sits and what it looks at (world frame, metres).
    camera_pos: tuple[float, float, float]
    camera_target: tuple[float, float, float]
    # Videos keep that view but move it with the robot's centre of mass (a walker leaves the
    # fixed view in seconds); False films from the fixed camera itself.
    follow_in_videos: bool = True
    # Steps in an episode of this task (the paper's time limit).
    episode_length: int = 1000
    # Passive simulation used by the `diverse` sampler to let random poses come to rest.
    settle_seconds: float = 1.0
    # Derived fields the robot (or the sampler: geom_xpos) reads from the physics data; the
    # C engine copies out only these.
    native_fields: tuple[str, ...] = ("geom_xpos",)
    # Which engine steps the physics: "mjx" (JAX) or "native" (MuJoCo's C engine, called from
    # inside the compiled program). Set by `use_physics`; the same robot, models and task.
    physics: str = "mjx"
    # Action entries after the actuators' that close grippers: each switches one equality
    # constraint of the model on or off (`grip`), in both engines, instead of driving a motor.
    grip_actions: int = 0
    # The largest env batch known to run through XLA's CPU runtime with its concurrency-
    # optimized scheduler on (see runtime/stall.py); None: no deadlock was ever seen.
    cpu_safe_envs: int | None = None

    def __init__(self) -> None:
        self._data_template = mjx.make_data(self.mjx_model, device=jax.local_devices()[0])

    # ----- sizes and timing
    @property
    def action_size(self) -> int:
        return int(self.mj_model.nu) + self.grip_actions

    @property
    def dt(self) -> float:
        return float(self.mj_model.opt.timestep) * self.n_frames

    # ----- physics
    def use_physics(self, physics: str) -> Robot:
        """Step this robot with `physics` ("mjx" or "native"); returns the robot."""
        if physics not in PHYSICS:
            raise ValueError(f"unknown physics {physics!r}; valid: {', '.join(PHYSICS)}")
        self.physics = physics
        if physics == "native":
            from lamour_jax.envs.native import NativePhysics

            self.native = NativePhysics(self.native_model(), self.n_frames, self.native_fields)
        return self

    def native_model(self) -> mujoco.MjModel:
        """The model the C engine steps: the MJX one unless a robot needs an edit (the C
        engine computes some fields only for the sensors that read them)."""
        return self.mj_model

    # jit: called eagerly by the sampler CLI, docs and renders, where op-by-op mjx.forward is
    # slow; inside other jitted code it simply inlines. Robots hash by identity.
    @functools.partial(jax.jit, static_argnums=0)
    def make_data(self, qpos: jax.Array, qvel: jax.Array) -> Any:
        qpos, qvel = jnp.asarray(qpos, jnp.float32), jnp.asarray(qvel, jnp.float32)
        if self.physics == "native":
            return self.native.make_data(qpos, qvel)
        data = self._data_template.replace(qpos=qpos, qvel=qvel)
        return self.post_physics(mjx.forward(self.mjx_model, data))

    def physics_step(self, data: Any, action: jax.Array) -> Any:
        action = jnp.clip(action, -1.0, 1.0)
        ctrl, commands = jnp.split(action, [self.mj_model.nu], axis=-1)
        ctrl = self.controls(data, ctrl)
        gripping = self.grip(data, commands) if self.grip_actions else None
        if self.physics == "native":
            return self.native.step(data, ctrl, gripping)
        data = data.replace(ctrl=ctrl)
        if gripping is not None:
            data = data.replace(eq_active=gripping)

        def substep(d: mjx.Data, _: None) -> tuple[mjx.Data, None]:
            return mjx.step(self.mjx_model, d), None

        data, _ = jax.lax.scan(substep, data, None, length=self.n_frames)
        return self.post_physics(data)

    def controls(self, data: Any, ctrl: jax.Array) -> jax.Array:
        """The actuators' controls from the policy's clipped action entries, held for the
        control step: the entries themselves, unless a robot's actions are in a frame its
        actuators are not (PushChair's base velocities: its own heading)."""
        return ctrl

    def grip(self, data: Any, commands: jax.Array) -> jax.Array:
        """Which of the model's equality constraints hold during the next control step (bool
        [neq]), from the current state and the `grip_actions` last action entries."""
        raise NotImplementedError

    def post_physics(self, data: mjx.Data) -> mjx.Data:
        """Quantities the observation needs that `mjx.step` does not compute by default."""
        return data

    # ----- task definition (subclasses)
    def observe(self, data: mjx.Data) -> jax.Array:
        raise NotImplementedError

    def task_reward(
        self, before: mjx.Data, after: mjx.Data, action: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Normal-env reward of one transition and its named terms."""
        raise NotImplementedError

    def validity_conditions(self, qpos: jax.Array, qvel: jax.Array) -> dict[str, jax.Array]:
        """The env's own validity ("healthy") test, as named conditions that must all hold.
        Named so that a diagnosis can say which one an episode ended on. Every robot's test
        reads only qpos and qvel."""
        raise NotImplementedError

    def is_valid(self, qpos: jax.Array, qvel: jax.Array) -> jax.Array:
        """The env's own validity test: every one of `validity_conditions` holds."""
        return functools.reduce(jnp.logical_and, self.validity_conditions(qpos, qvel).values())

    def normal_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Start of a Normal episode: the spawn pose plus the Gym reset noise."""
        raise NotImplementedError

    def recovered_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """A state from which the original task goes on: what a reward program's
        `is_recovered` should accept (the reward check's examples). A Normal start, unless the
        task's starts are not yet at work (PushChair: the hands not yet on the chair)."""
        return self.normal_state(key)

    def ood_paper_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The paper's OOD pose plus its reset noise (spec §2)."""
        raise NotImplementedError

    def ood_diverse_candidate(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """A random fallen-looking pose to drop and settle (before the validity filter)."""
        raise NotImplementedError

    def obs_fields(self) -> list[ObsField]:
        raise NotImplementedError

    # ----- what generated reward programs read (spec §3): the observation itself, except
    # where the paper gives the programs an engineered vector instead (PushChair's 5-d one).
    @property
    def program_state_size(self) -> int:
        return self.observation_size

    def program_state(self, obs: jax.Array) -> jax.Array:
        """The vector a reward program sees, from the policy's observation (batched or not)."""
        return obs

    def program_fields(self) -> list[ObsField]:
        """The layout of `program_state`, for the description the code stage reads."""
        return self.obs_fields()

    def action_meaning(self, joint: str) -> str:
        """What one action entry does, for the description the code stage reads."""
        return f"normalised motor torque on joint {joint} (positive = along the joint axis)"

    def action_names(self) -> list[str]:
        """The joint each actuator drives (actuators in these models are mostly unnamed)."""
        m = self.mj_model
        return [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, int(m.actuator_trnid[i, 0]))
                for i in range(m.nu)] + self.grip_names()

    def grip_names(self) -> list[str]:
        """Names of the `grip_actions` entries (after the actuators')."""
        return []

    # ----- shared helpers
    def joint_ranges(self) -> tuple[jax.Array, jax.Array]:
        """Lower/upper limits of the hinge joints after the root (qpos order)."""
        m = self.mj_model
        lo, hi = [], []
        for j in range(m.njnt):
            if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE and m.jnt_limited[j]:
                lo.append(m.jnt_range[j, 0])
                hi.append(m.jnt_range[j, 1])
        return jnp.asarray(lo, jnp.float32), jnp.asarray(hi, jnp.float32)

    def default_qpos(self) -> jax.Array:
        """The spawn pose without its reset noise."""
        return jnp.asarray(self.mj_model.qpos0, jnp.float32)

    def tumbled_pose(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """A free-rooted robot at the origin in a uniformly random orientation, each hinge
        joint uniform in its range, at rest: a diverse fall to drop and settle."""
        k_rot, k_joints = jax.random.split(key)
        lo, hi = self.joint_ranges()
        joints = jax.random.uniform(k_joints, lo.shape, minval=lo, maxval=hi)
        qpos = jnp.concatenate([jnp.zeros(3), random_unit_quat(k_rot), joints])
        return qpos, jnp.zeros(self.mj_model.nv)


class Env:
    """Normal or OOD variant of a robot (spec §2).

    normal: resets to the spawn pose; reward = task reward; terminates when invalid.
    ood:    resets through `reset_fn` (the OOD-state sampler); reward masked to 0 while
            invalid (unmasked in info['original_reward']); termination delayed until the
            state has been valid once, then "invalid => terminate" as usual.
    Both: time limit `episode_length` reported as truncation; non-finite physics terminates.
    """

    def __init__(
        self,
        robot: Robot,
        variant: Variant = "normal",
        reset_fn: ResetFn | None = None,
        episode_length: int | None = None,
        mode: str | None = None,
    ) -> None:
        if variant not in ("normal", "ood"):
            raise ValueError(f"variant must be 'normal' or 'ood', got {variant!r}")
        self.robot = robot
        self.variant = variant
        self.mode = mode
        self.episode_length = int(episode_length or robot.episode_length)
        if reset_fn is None:
            reset_fn = robot.normal_state if variant == "normal" else robot.ood_paper_state
        self._reset_fn = reset_fn

    # ----- facts
    @property
    def name(self) -> str:
        return self.robot.name

    @property
    def observation_size(self) -> int:
        return self.robot.observation_size

    @property
    def action_size(self) -> int:
        return self.robot.action_size

    @property
    def program_state_size(self) -> int:
        return self.robot.program_state_size

    def program_state(self, obs: jax.Array) -> jax.Array:
        return self.robot.program_state(obs)

    @property
    def dt(self) -> float:
        return self.robot.dt

    @property
    def camera(self) -> str:
        return FIXED_CAMERA

    def is_valid(self, data: mjx.Data) -> jax.Array:
        return self.robot.is_valid(data.qpos, data.qvel)

    # ----- dynamics
    def reset(self, key: jax.Array) -> State:
        key, sample_key = jax.random.split(key)
        qpos, qvel = self._reset_fn(sample_key)
        return self.reset_to(key, qpos, qvel)

    def reset_to(self, key: jax.Array, qpos: jax.Array, qvel: jax.Array) -> State:
        data = self.robot.make_data(qpos, qvel)
        obs = self.robot.observe(data)
        valid = self.is_valid(data)
        zero = jnp.zeros((), jnp.float32)
        # Only the names and shapes of the reward terms are needed here, not their values.
        terms = jax.eval_shape(
            lambda d: self.robot.task_reward(d, d, jnp.zeros(self.action_size))[1], data)
        metrics = {k: jnp.zeros(v.shape, v.dtype) for k, v in terms.items()}
        return State(data, obs, zero, zero, metrics, episode_start_info(key, valid))

    def step(self, state: State, action: jax.Array) -> State:
        before = state.data
        data = self.robot.physics_step(before, action)
        task_reward, terms = self.robot.task_reward(before, data, action)
        observed = self.robot.observe(data)
        # A non-finite reward or observation from a finite state (an overflow, a derived field
        # such as a contact force) counts as a blow-up too.
        finite = (jnp.all(jnp.isfinite(data.qpos)) & jnp.all(jnp.isfinite(data.qvel))
                  & jnp.isfinite(task_reward) & jnp.all(jnp.isfinite(observed)))
        valid = self.robot.is_valid(data.qpos, data.qvel) & finite
        task_reward = jnp.where(finite, task_reward, 0.0)

        if self.variant == "ood":
            reward = jnp.where(valid, task_reward, 0.0)
            terminated = state.info["recovered_once"] & ~valid
        else:
            reward = task_reward
            terminated = ~valid
        terminated = terminated | ~finite
        steps = state.info["steps"] + 1
        truncated = (steps >= self.episode_length) & ~terminated
        # A diverged state must not leak NaN into the learner: keep the last finite observation.
        obs = jnp.where(finite, observed, state.obs)

        info = {
            **state.info,
            "steps": steps,
            "valid": valid,
            "recovered_once": state.info["recovered_once"] | valid,
            "steps_up": jnp.where(valid, state.info["steps_up"] + 1, 0),
            "original_reward": task_reward,
            "truncation": truncated.astype(jnp.float32),
            "diverged": (~finite).astype(jnp.float32),
        }
        done = (terminated | truncated).astype(jnp.float32)
        return state.replace(
            data=data, obs=obs, reward=reward.astype(jnp.float32), done=done,
            metrics=terms, info=info,
        )

    # ----- the LLM-facing description of the state and action vectors
    def describe(self) -> str:
        from lamour_jax.envs.describe import describe_env

        return describe_env(self)
