"""Humanoid: the DeepMind Control Suite humanoid model (from the pinned dm_control package),
0.005 s x 5 frames, DMC 'run' reward, 67-d DMC observation."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mujoco

from lamour_jax.envs import physics
from lamour_jax.envs.base import ObsField, Robot
from lamour_jax.envs.native import field
from lamour_jax.envs.physics import mjx
from lamour_jax.envs.rotations import axis_angle_quat

RUN_SPEED = 10.0
STAND_HEIGHT = 1.4


def tolerance(
    x: jax.Array,
    lower: float,
    upper: float,
    margin: float,
    sigmoid: str = "gaussian",
    value_at_margin: float = 0.1,
) -> jax.Array:
    """DMC's `rewards.tolerance`: 1 inside [lower, upper], decaying to `value_at_margin` at
    `margin` outside, with the named shape."""
    in_bounds = (lower <= x) & (x <= upper)
    d = jnp.where(x < lower, lower - x, x - upper) / margin
    if sigmoid == "gaussian":
        scale = math.sqrt(-2.0 * math.log(value_at_margin))
        outside = jnp.exp(-0.5 * (d * scale) ** 2)
    elif sigmoid == "linear":
        scaled = d * (1.0 - value_at_margin)
        outside = jnp.where(jnp.abs(scaled) < 1.0, 1.0 - scaled, 0.0)
    elif sigmoid == "quadratic":
        scaled = d * math.sqrt(1.0 - value_at_margin)
        outside = jnp.where(jnp.abs(scaled) < 1.0, 1.0 - scaled**2, 0.0)
    else:
        raise ValueError(f"unknown sigmoid {sigmoid!r}")
    return jnp.where(in_bounds, 1.0, outside)


class Humanoid(Robot):
    name = "humanoid"
    task = "Run forward as fast as possible."
    n_frames = 5
    height_index = 2
    camera_pos = (0.6, -4.0, 1.6)
    camera_target = (0.6, 0.0, 0.4)
    settle_seconds = 1.5
    # subtree_linvel: the C engine fills it for the model's own torso_subtreelinvel sensor.
    native_fields = ("geom_xpos", "xpos", "xmat", "subtree_linvel")

    def __init__(self) -> None:
        spec = physics.load_spec("dm_control", "suite", "humanoid.xml")
        physics.collide_with_floor_only(spec)
        physics.add_fixed_camera(spec, self.camera_pos, self.camera_target)
        # dm_control asks for up to 100 solver iterations; MJX runs the loop for the slowest env
        # in the batch, so cap it (MuJoCo Playground's MJX humanoids use similar caps).
        self.mj_model, self.mjx_model = physics.finish_model(spec, iterations=5, ls_iterations=10)
        m = self.mj_model
        body = lambda n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, n)  # noqa: E731
        self.torso = body("torso")
        self.head = body("head")
        # DMC's order: for side in (left, right): for limb in (hand, foot).
        self.extremities = jnp.array(
            [body(f"{side}_{limb}") for side in ("left", "right") for limb in ("hand", "foot")]
        )
        self.observation_size = (m.nq - 7) + 1 + 12 + 3 + 3 + m.nv
        super().__init__()

    def post_physics(self, data: mjx.Data) -> mjx.Data:
        # subtree_linvel (the DMC 'torso_subtreelinvel' sensor) is filled by this pass only.
        return mjx.subtree_vel(self.mjx_model, data)

    def _torso_frame(self, data: mjx.Data) -> jax.Array:
        return field(data, "xmat")[self.torso].reshape(3, 3)

    def head_height(self, data: mjx.Data) -> jax.Array:
        return field(data, "xpos")[self.head, 2]

    def torso_upright(self, data: mjx.Data) -> jax.Array:
        return self._torso_frame(data)[2, 2]

    def com_velocity(self, data: mjx.Data) -> jax.Array:
        return field(data, "subtree_linvel")[self.torso]

    def observe(self, data: mjx.Data) -> jax.Array:
        frame = self._torso_frame(data)
        xpos = field(data, "xpos")
        to_limbs = xpos[self.extremities] - xpos[self.torso]
        extremities = (to_limbs @ frame).ravel()  # each limb vector expressed in the torso frame
        return jnp.concatenate([
            data.qpos[7:],
            self.head_height(data)[None],
            extremities,
            frame[2, :],  # torso's z axis ('zx', 'zy', 'zz' of xmat)
            self.com_velocity(data),
            data.qvel,
        ])

    def task_reward(
        self, before: mjx.Data, after: mjx.Data, action: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        standing = tolerance(self.head_height(after), STAND_HEIGHT, math.inf, STAND_HEIGHT / 4)
        upright = tolerance(self.torso_upright(after), 0.9, math.inf, 1.9, "linear", 0.0)
        small_control = tolerance(action, 0.0, 0.0, 1.0, "quadratic", 0.0).mean()
        small_control = (4.0 + small_control) / 5.0
        speed = jnp.linalg.norm(self.com_velocity(after)[:2])
        move = tolerance(speed, RUN_SPEED, math.inf, RUN_SPEED, "linear", 0.0)
        move = (5.0 * move + 1.0) / 6.0
        reward = small_control * standing * upright * move
        return reward, {"standing": standing, "upright": upright, "small_control": small_control,
                        "move": move, "speed": speed}

    def validity_conditions(self, qpos: jax.Array, qvel: jax.Array) -> dict[str, jax.Array]:
        return {"z > 1.0": qpos[2] > 1.0, "z < 2.0": qpos[2] < 2.0}

    def normal_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        kq, kv = jax.random.split(key)
        m = self.mj_model
        qpos = self.default_qpos() + jax.random.uniform(kq, (m.nq,), minval=-0.01, maxval=0.01)
        qvel = jax.random.uniform(kv, (m.nv,), minval=-0.01, maxval=0.01)
        return qpos, qvel

    def ood_paper_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        # Lying on its back: pitch -pi/2 turns the chest (+x) to face up; root z = 0.12.
        kq, kv = jax.random.split(key)
        m = self.mj_model
        qpos = self.default_qpos().at[2].set(0.12)
        qpos = qpos.at[3:7].set(axis_angle_quat((0.0, 1.0, 0.0), -math.pi / 2))
        qpos = qpos + jax.random.uniform(kq, (m.nq,), minval=-0.01, maxval=0.01)
        qvel = jax.random.uniform(kv, (m.nv,), minval=-0.01, maxval=0.01)
        return qpos, qvel

    def ood_diverse_candidate(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.tumbled_pose(key)

    def obs_fields(self) -> list[ObsField]:
        m = self.mj_model
        fields = []
        for k in range(m.njnt - 1):
            j = k + 1
            name = mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, j)
            fields.append(ObsField(k, 1, name, f"angle of joint {name} (range "
                                   f"{m.jnt_range[j, 0]:.2f} to {m.jnt_range[j, 1]:.2f})", "rad"))
        fields.append(ObsField(21, 1, "head_height", "height of the head above the floor "
                               "(about 1.6 when standing)", "m"))
        for k, limb in enumerate(["left_hand", "left_foot", "right_hand", "right_foot"]):
            fields.append(ObsField(22 + 3 * k, 3, limb, f"position of the {limb.replace('_', ' ')}"
                                   " relative to the torso, in the torso frame (x fwd, y left, "
                                   "z up)", "m"))
        fields.append(ObsField(34, 3, "torso_vertical", "world z axis expressed in the torso "
                               "frame; entry 36 = 1 when the torso is upright, -1 upside down",
                               "-"))
        fields.append(ObsField(37, 3, "com_velocity", "centre-of-mass velocity (x, y, z), world "
                               "frame", "m/s"))
        fields.append(ObsField(40, 3, "root_linvel", "root linear velocity", "m/s"))
        fields.append(ObsField(43, 3, "root_angvel", "root angular velocity", "rad/s"))
        for k in range(m.njnt - 1):
            name = mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, k + 1)
            fields.append(ObsField(46 + k, 1, f"{name}_vel", f"angular velocity of {name}",
                                   "rad/s"))
        return fields
