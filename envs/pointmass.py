"""A tiny, cheap MJX env for fast learning tests: a point mass on a plane driven to the origin.

Not one of the paper's envs. Two slide joints, two motors, no contacts, so one step costs a
fraction of a locomotion step and PPO learns it in seconds on a CPU. It follows the same Robot
contract (validity test, Normal/OOD starts), so the learner and recovery code paths run on it
unchanged: "valid" means within 1 m of the target, and OOD starts lie 1.5-2 m away.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco

from lamour_jax.envs import physics
from lamour_jax.envs.base import ObsField, Robot
from lamour_jax.envs.physics import mjx

_MJCF = """
<mujoco model="pointmass">
  <option timestep="0.02"/>
  <worldbody>
    <light pos="0 0 3"/>
    <geom name="floor" type="plane" size="3 3 0.1" rgba="0.8 0.8 0.8 1" contype="0"
          conaffinity="0"/>
    <geom name="target" type="sphere" size="0.05" pos="0 0 0.05" rgba="0.9 0.2 0.2 1"
          contype="0" conaffinity="0"/>
    <body name="mass" pos="0 0 0.1">
      <joint name="x" type="slide" axis="1 0 0" damping="0.5"/>
      <joint name="y" type="slide" axis="0 1 0" damping="0.5"/>
      <geom type="sphere" size="0.1" mass="1" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <actuator>
    <motor joint="x" gear="2" ctrlrange="-1 1" ctrllimited="true"/>
    <motor joint="y" gear="2" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>
"""


class PointMass(Robot):
    name = "pointmass"
    task = "Move the point mass to the red target and stay there."
    n_frames = 2
    camera_pos = (0.0, -4.0, 4.0)
    camera_target = (0.0, 0.0, 0.0)
    settle_seconds = 0.2
    follow_in_videos = False  # the fixed view shows the whole arena and its target
    height_index = 0

    def __init__(self) -> None:
        spec = mujoco.MjSpec.from_string(_MJCF)
        physics.add_fixed_camera(spec, self.camera_pos, self.camera_target)
        self.mj_model, self.mjx_model = physics.finish_model(spec, iterations=1, ls_iterations=1)
        self.observation_size = 4
        super().__init__()

    def observe(self, data: mjx.Data) -> jax.Array:
        return jnp.concatenate([data.qpos, data.qvel])

    def task_reward(self, before: mjx.Data, after: mjx.Data, action: jax.Array
                    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        distance = jnp.linalg.norm(after.qpos)
        ctrl_cost = 0.01 * jnp.sum(jnp.square(action))
        return 1.0 - distance - ctrl_cost, {"distance": distance, "ctrl_cost": ctrl_cost}

    def validity_conditions(self, qpos: jax.Array, qvel: jax.Array) -> dict[str, jax.Array]:
        return {"|position| < 1": jnp.linalg.norm(qpos) < 1.0}

    def normal_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jax.random.uniform(key, (2,), minval=-0.7, maxval=0.7), jnp.zeros(2)

    def ood_paper_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        k_angle, k_radius = jax.random.split(key)
        angle = jax.random.uniform(k_angle, (), maxval=2 * jnp.pi)
        radius = jax.random.uniform(k_radius, (), minval=1.5, maxval=2.0)
        return radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)]), jnp.zeros(2)

    ood_diverse_candidate = ood_paper_state

    def obs_fields(self) -> list[ObsField]:
        return [ObsField(0, 1, "x", "x position; the target is at 0", "m"),
                ObsField(1, 1, "y", "y position; the target is at 0", "m"),
                ObsField(2, 1, "x_vel", "x velocity", "m/s"),
                ObsField(3, 1, "y_vel", "y velocity", "m/s")]
