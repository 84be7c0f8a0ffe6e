"""Ant (Gym-MuJoCo ant: 0.01 s x 5 frames, 111-d observation with contact forces)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mujoco

from lamour_jax.envs import physics
from lamour_jax.envs.base import ObsField, Robot
from lamour_jax.envs.native import field
from lamour_jax.envs.physics import mjx
from lamour_jax.envs.rotations import quat_to_euler


class Ant(Robot):
    name = "ant"
    task = "Run forward as fast as possible."
    n_frames = 5
    height_index = 2
    camera_pos = (2.1, -2.1, 1.1)
    camera_target = (0.0, 0.0, 0.3)
    settle_seconds = 1.5
    # Above 128 envs, ant programs deadlocked in their first period on jax 0.10.2 with that
    # scheduler on (benchmarks/results/train_throughput_cpu.md, recovery_ant_cpu.md).
    cpu_safe_envs = 128
    native_fields = ("geom_xpos", "cfrc_ext")

    def __init__(self) -> None:
        self.mj_model, self.mjx_model = physics.finish_model(self._spec(), iterations=4,
                                                             ls_iterations=10)
        self.nbody = int(self.mj_model.nbody)  # 14 including the world body, as in Gym
        self.observation_size = (self.mj_model.nq - 2) + self.mj_model.nv + 6 * self.nbody
        super().__init__()

    def _spec(self) -> mujoco.MjSpec:
        spec = physics.load_spec("brax", "envs", "assets", "ant.xml")
        physics.collide_with_floor_only(spec)
        physics.add_fixed_camera(spec, self.camera_pos, self.camera_target)
        return spec

    def native_model(self) -> mujoco.MjModel:
        # The C engine runs the post-constraint RNE pass (cfrc_ext) only for sensors that need
        # it: a sensor of the torso's acceleration asks for it. Sensors do not act on the
        # dynamics.
        spec = self._spec()
        spec.add_sensor(name="lamour_torso_linacc", type=mujoco.mjtSensor.mjSENS_FRAMELINACC,
                        objtype=mujoco.mjtObj.mjOBJ_BODY, objname="torso")
        return physics.finish_model(spec, iterations=4, ls_iterations=10, device=False)[0]

    def post_physics(self, data: mjx.Data) -> mjx.Data:
        # cfrc_ext (external contact wrench on each body) is only filled by the post-constraint
        # RNE pass, which mjx.step skips. Gymnasium v5 calls mj_rnePostConstraint for the same
        # reason (under MuJoCo >= 2, Gym v4's contact forces were silently all zero).
        return mjx.rne_postconstraint(self.mjx_model, data)

    @staticmethod
    def contact_forces(data: mjx.Data) -> jax.Array:
        return jnp.clip(field(data, "cfrc_ext"), -1.0, 1.0)

    def observe(self, data: mjx.Data) -> jax.Array:
        return jnp.concatenate([data.qpos[2:], data.qvel, self.contact_forces(data).ravel()])

    def task_reward(
        self, before: mjx.Data, after: mjx.Data, action: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        x_velocity = (after.qpos[0] - before.qpos[0]) / self.dt
        ctrl_cost = 0.5 * jnp.sum(jnp.square(action))
        contact_cost = 5e-4 * jnp.sum(jnp.square(self.contact_forces(after)))
        healthy = jnp.ones((), jnp.float32)
        reward = x_velocity + healthy - ctrl_cost - contact_cost
        return reward, {"x_velocity": x_velocity, "healthy": healthy, "ctrl_cost": ctrl_cost,
                        "contact_cost": contact_cost}

    def validity_conditions(self, qpos: jax.Array, qvel: jax.Array) -> dict[str, jax.Array]:
        roll, pitch, _ = quat_to_euler(qpos[3:7])
        z = qpos[2]
        return {"finite": jnp.all(jnp.isfinite(qpos)) & jnp.all(jnp.isfinite(qvel)),
                "z >= 0.2": z >= 0.2, "z <= 1.0": z <= 1.0,
                "|roll|, |pitch| <= pi/2": ((jnp.abs(roll) <= math.pi / 2)
                                            & (jnp.abs(pitch) <= math.pi / 2))}

    def normal_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        kq, kv = jax.random.split(key)
        m = self.mj_model
        qpos = self.default_qpos() + jax.random.uniform(kq, (m.nq,), minval=-0.1, maxval=0.1)
        qvel = 0.1 * jax.random.normal(kv, (m.nv,))
        return qpos, qvel

    def ood_paper_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        # Upside down (roll = pi), resting on the torso sphere; no reset noise in the paper.
        del key
        qpos = self.default_qpos().at[2].set(0.25).at[3:7].set(jnp.array([0.0, 1.0, 0.0, 0.0]))
        return qpos, jnp.zeros(self.mj_model.nv)

    def ood_diverse_candidate(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.tumbled_pose(key)

    def obs_fields(self) -> list[ObsField]:
        m = self.mj_model
        fields = [
            ObsField(0, 1, "torso_z", "torso height above the floor", "m"),
            ObsField(1, 4, "torso_quat", "torso orientation quaternion (w, x, y, z); "
                     "(1, 0, 0, 0) = upright, facing +x; (0, 1, 0, 0) = upside down", "-"),
        ]
        hinge_names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(1, m.njnt)]
        for k, name in enumerate(hinge_names):
            fields.append(ObsField(5 + k, 1, name, f"angle of leg joint {name} (range "
                                   f"{math.degrees(m.jnt_range[k + 1, 0]):.0f} to "
                                   f"{math.degrees(m.jnt_range[k + 1, 1]):.0f} deg)", "rad"))
        i = 13
        fields += [
            ObsField(i, 3, "torso_linvel", "torso linear velocity (x, y, z), world frame", "m/s"),
            ObsField(i + 3, 3, "torso_angvel", "torso angular velocity, torso frame", "rad/s"),
        ]
        for k, name in enumerate(hinge_names):
            fields.append(ObsField(i + 6 + k, 1, f"{name}_vel", f"angular velocity of {name}",
                                   "rad/s"))
        i = 27
        for b in range(self.nbody):
            body = mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, b) or f"body_{b}"
            fields.append(ObsField(i + 6 * b, 6, f"cfrc_ext[{body}]",
                                   f"external contact wrench on body {body!r} (torque xyz, "
                                   "force xyz), clipped to [-1, 1]", "N·m, N"))
        return fields
