"""Planar Gym-MuJoCo robots (rootx, rootz, rooty + hinge joints): Hopper, Walker2d,
HalfCheetah. Models: brax's MJX-tuned copies of the Gym models, edited on load."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mujoco

from lamour_jax.envs import physics
from lamour_jax.envs.base import ObsField, Robot
from lamour_jax.envs.physics import mjx


class PlanarRobot(Robot):
    asset: str
    # Gym's rootz joint of hopper/walker2d has ref=1.25, so qpos[1] *is* the torso height and
    # the paper's state[0] reads 1.25 at spawn. brax dropped the ref; we put it back.
    rootz_ref: float | None = None
    qvel_clip: float | None = None  # Gym clips qvel to +-10 in hopper/walker2d observations
    healthy_bonus: float = 0.0
    ctrl_cost: float
    normal_noise_qpos: float
    normal_noise_qvel: float
    normal_qvel_gaussian: bool = False
    ood_qpos: tuple[float, ...]
    ood_noise_qpos: float
    ood_noise_qvel: float
    ood_qvel_gaussian: bool = False
    diverse_min_angle: float  # |rooty| of diverse candidates is drawn from [this, pi]
    height_index = 1
    # Every body geom touches the floor (a fallen robot lies on it). False keeps brax's contact
    # set, feet only: cheaper, but a fallen robot sinks; used to measure that cost.
    body_floor_contact: bool = True

    def __init__(self) -> None:
        spec = physics.load_spec("brax", "envs", "assets", self.asset)
        if self.body_floor_contact:
            physics.collide_with_floor_only(spec)
        if self.rootz_ref is not None:
            spec.joint("rootz").ref = self.rootz_ref
        physics.add_fixed_camera(spec, self.camera_pos, self.camera_target)
        self.mj_model, self.mjx_model = physics.finish_model(spec, iterations=4, ls_iterations=10)
        self.observation_size = (self.mj_model.nq - 1) + self.mj_model.nv
        super().__init__()

    def observe(self, data: mjx.Data) -> jax.Array:
        qvel = data.qvel
        if self.qvel_clip is not None:
            qvel = jnp.clip(qvel, -self.qvel_clip, self.qvel_clip)
        return jnp.concatenate([data.qpos[1:], qvel])

    def task_reward(
        self, before: mjx.Data, after: mjx.Data, action: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        x_velocity = (after.qpos[0] - before.qpos[0]) / self.dt
        ctrl_cost = self.ctrl_cost * jnp.sum(jnp.square(action))
        healthy = jnp.asarray(self.healthy_bonus, jnp.float32)
        reward = x_velocity + healthy - ctrl_cost
        return reward, {"x_velocity": x_velocity, "healthy": healthy, "ctrl_cost": ctrl_cost}

    def _noise(self, key: jax.Array, shape: tuple[int, ...], scale: float, gaussian: bool
               ) -> jax.Array:
        if gaussian:
            return scale * jax.random.normal(key, shape)
        return jax.random.uniform(key, shape, minval=-scale, maxval=scale)

    def normal_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        kq, kv = jax.random.split(key)
        m = self.mj_model
        qpos = self.default_qpos() + self._noise(kq, (m.nq,), self.normal_noise_qpos, False)
        qvel = self._noise(kv, (m.nv,), self.normal_noise_qvel, self.normal_qvel_gaussian)
        return qpos, qvel

    def ood_paper_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        kq, kv = jax.random.split(key)
        m = self.mj_model
        qpos = jnp.asarray(self.ood_qpos, jnp.float32)
        qpos = qpos + self._noise(kq, (m.nq,), self.ood_noise_qpos, False)
        qvel = self._noise(kv, (m.nv,), self.ood_noise_qvel, self.ood_qvel_gaussian)
        return qpos, qvel

    def ood_diverse_candidate(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        k_angle, k_sign, k_joints = jax.random.split(key, 3)
        angle = jax.random.uniform(k_angle, minval=self.diverse_min_angle, maxval=math.pi)
        angle = jnp.where(jax.random.bernoulli(k_sign), angle, -angle)
        lo, hi = self.joint_ranges()
        joints = jax.random.uniform(k_joints, lo.shape, minval=lo, maxval=hi)
        # Height is set later by the sampler (lifted clear of the floor, then dropped).
        qpos = jnp.concatenate([jnp.zeros(2), angle[None], joints])
        return qpos, jnp.zeros(self.mj_model.nv)

    def obs_fields(self) -> list[ObsField]:
        m = self.mj_model
        names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(m.njnt)]
        fields: list[ObsField] = []
        i = 0
        for j, name in enumerate(names[1:], start=1):
            if name == "rootz":
                meaning = ("torso height above the floor" if self.rootz_ref is not None
                           else "torso height offset from its spawn height")
                fields.append(ObsField(i, 1, "rootz", meaning, "m"))
            elif name == "rooty":
                fields.append(ObsField(i, 1, "rooty", "torso pitch angle, 0 = upright, not "
                                       "wrapped to [-pi, pi]", "rad"))
            else:
                fields.append(ObsField(i, 1, name, f"angle of joint {name} (range "
                                       f"{m.jnt_range[j, 0]:.2f} to {m.jnt_range[j, 1]:.2f})",
                                       "rad"))
            i += 1
        clip = f", clipped to +-{self.qvel_clip:g}" if self.qvel_clip is not None else ""
        for name in names:
            if name == "rootx":
                meaning, unit = "forward velocity of the torso", "m/s"
            elif name == "rootz":
                meaning, unit = "vertical velocity of the torso", "m/s"
            elif name == "rooty":
                meaning, unit = "pitch angular velocity of the torso", "rad/s"
            else:
                meaning, unit = f"angular velocity of joint {name}", "rad/s"
            fields.append(ObsField(i, 1, f"{name}_vel", meaning + clip, unit))
            i += 1
        return fields


class Hopper(PlanarRobot):
    name = "hopper"
    task = "Hop forward as fast as possible."
    asset = "hopper.xml"
    n_frames = 4
    rootz_ref = 1.25
    qvel_clip = 10.0
    healthy_bonus = 1.0
    ctrl_cost = 1e-3
    normal_noise_qpos = normal_noise_qvel = 5e-3
    ood_qpos = (-1.2729, 0.10, -1.7453, 0.0, 0.0, 0.0)
    ood_noise_qpos = ood_noise_qvel = 5e-3
    diverse_min_angle = 0.6
    camera_pos = (-1.0, -3.6, 1.0)
    camera_target = (-1.0, 0.0, 0.4)

    def validity_conditions(self, qpos: jax.Array, qvel: jax.Array) -> dict[str, jax.Array]:
        z, angle = qpos[1], qpos[2]
        rest = jnp.concatenate([qpos[2:], qvel])
        return {"z > 0.7": z > 0.7, "|angle| < 0.2": jnp.abs(angle) < 0.2,
                "|qpos[2:]|, |qvel| < 100": jnp.all(jnp.abs(rest) < 100.0)}


class Walker2d(PlanarRobot):
    name = "walker2d"
    task = "Walk forward as fast as possible."
    asset = "walker2d.xml"
    n_frames = 4
    rootz_ref = 1.25
    qvel_clip = 10.0
    healthy_bonus = 1.0
    ctrl_cost = 1e-3
    normal_noise_qpos = normal_noise_qvel = 5e-3
    ood_qpos = (-1.2729, 0.10, 1.5740, -0.1222, 0.0, -0.7854, -0.1222, 0.0, -0.7854)
    ood_noise_qpos = ood_noise_qvel = 5e-3
    diverse_min_angle = 0.6
    camera_pos = (-1.2, -4.0, 1.0)
    camera_target = (-1.2, 0.0, 0.4)

    def validity_conditions(self, qpos: jax.Array, qvel: jax.Array) -> dict[str, jax.Array]:
        z, angle = qpos[1], qpos[2]
        return {"z > 0.9": z > 0.9, "z < 2.0": z < 2.0,
                "|angle| < 0.3": (angle > -0.3) & (angle < 0.3)}


class HalfCheetah(PlanarRobot):
    name = "halfcheetah"
    task = "Run forward as fast as possible."
    asset = "half_cheetah.xml"
    n_frames = 5
    ctrl_cost = 0.1
    normal_noise_qpos = normal_noise_qvel = 0.1
    normal_qvel_gaussian = True
    ood_qpos = (0.0, -0.5, -2.8798, 1.0472, 0.0, 0.0, 0.0, 0.0, 0.0)
    ood_noise_qpos = ood_noise_qvel = 0.1
    ood_qvel_gaussian = True
    diverse_min_angle = math.pi / 2 + 0.3
    camera_pos = (0.0, -3.4, 0.9)
    camera_target = (0.0, 0.0, 0.3)

    def validity_conditions(self, qpos: jax.Array, qvel: jax.Array) -> dict[str, jax.Array]:
        # Raw qpos, not wrapped: a full flip (|rooty| > pi/2) stays invalid, as in the paper.
        return {"|rooty| <= pi/2": jnp.abs(qpos[2]) <= math.pi / 2}
