"""PushChair: a mobile two-armed robot pushes an office chair to a target marker without letting
it fall (the paper's ManiSkill2 scenario, rebuilt from primitives for this project).

Layout (world frame, metres): the target marker is the origin; the chair starts about 1 m from
it on any side, its seat facing it; the robot stands behind the chair's backrest and faces the
target. The OOD scenario (the paper's) puts them on the target's -x side, so that "forward" is
+x for both, with the chair knocked over onto its back.

The robot (12 actuators; the paper's has 20: a 3-DoF base, a torso lift and two 7-DoF Panda arms
with grippers): a base that moves forward and sideways in its own heading and turns about z
(velocity servos, as ManiSkill2's base controller turns its commands into the base's frame), a
torso lift (position servo) and two 4-joint arms, shoulder yaw and pitch, elbow, wrist, each
ending in a ball-shaped palm (sphere against box is the robust contact; two boxes pushed
edge-on can throw the chair), and two grip actions. The backrest has 15 grip points, where a
palm resting on it sits: three along its top edge and a 3 x 2 grid on each face. A palm whose
grip action turns positive takes hold of the nearest grip point within GRIP_REACH and keeps it
until the action falls below GRIP_RELEASE (a latch: a wavering command does not drop the
chair): an equality constraint (a ball joint between palm and grip point) that the env
switches on and off, in both engines, in place of the Pandas' fingers.
Pushing needs no grip; setting a knocked-over chair upright does (a palm cannot get under a
backrest lying on the floor). Grip points all over the backrest, not one per palm, because
a recovery's palms go where its reward asks, anywhere on the chair (a single point per palm
was never reached; benchmarks/results/pushchair_cpu.md).
Four joints an arm reach every point the palms need to; fewer joints keep the physics and
the policy small.

The arm joints are servos whose targets move at a bounded rate: an action sets how fast a
joint's target moves (at most half the joint's range per second, 0.8-1.4 rad/s, where a
Panda's joints are limited to about 2.2-2.6 rad/s and ManiSkill2's PushChair velocity
controller to 1 rad/s), and the target (the actuator's activation, part of the physics state)
holds where it was left. Position servos that jumped to any target swung a joint at over
10 rad/s, fast enough to flick a knocked-over chair upright without holding it, so that it
rolled on past the target (benchmarks/results/pushchair_cpu.md); a bounded rate leaves the
righting to the grip.

The policy sees everything in the base's heading frame (positions, velocities and axes turned
about z by the base's yaw), and the Normal starts put the chair on any side of the target:
what the original learns holds wherever a recovery leaves robot and chair.

The chair: a heavy five-star base with five caster balls (low friction that wins over the
floor's by contact priority, so it rolls across the floor as casters let it, without the cost
of wheel joints), a gas column, and a seat with a backrest on a damped swivel joint. 11.5 kg,
half of it in the base and column, as in a real office chair: it can be pushed by the
backrest at a walking pace without tipping.

Reward programs do not read the policy's observation but the paper's engineered 5-d vector
[mean palm-to-chair distance (seat or backrest), chair-to-target distance in the plane, chair
tilt, chair linear speed, chair angular speed] (`program_state`), kept as the observation's
last five entries.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from jax.typing import ArrayLike

from lamour_jax.envs import physics
from lamour_jax.envs.base import ObsField, Robot
from lamour_jax.envs.native import field
from lamour_jax.envs.physics import mjx
from lamour_jax.envs.rotations import axis_angle_quat, random_unit_quat

# The validity test (spec §2): the chair's tilt from vertical at most 0.1 pi.
MAX_TILT = 0.1 * math.pi
# Success (spec §2): the chair within 0.15 m of the target and tilted less than 0.2 pi.
SUCCESS_DISTANCE = 0.15
SUCCESS_TILT = 0.2 * math.pi
# A palm's centre within this distance of a grip point can take hold of it.
GRIP_REACH = 0.1
# A grip closes at any positive command and opens only at a command below this: a policy
# whose grip command wavered about 0 let go every 2 steps (pushchair_cpu.md).
GRIP_RELEASE = -0.9
# Where the chair starts: this far from the target (+- the noise), seat facing it.
CHAIR_DISTANCE = 1.0
# The arm joints' target rate at a full action, in half-ranges of the joint per second.
ARM_TARGET_RATE = 1.0
# The robot's base starts 0.8-1.2 m behind the backrest (front edge of the base to backrest).
ROBOT_GAP = (0.8, 1.2)

# Collision groups, kept few because MJX tests every allowed pair at every step (and compiles
# a collision function per pair of shape types): the floor touches the chair only; the
# robot's palms, forearms and base touch the chair's seat and backrest; the column, legs and
# casters touch the floor only (they pass under the robot's raised base); the robot's own
# links never collide, nor do its upper arms and torso with anything.
_FLOOR = 'contype="1" conaffinity="0"'
_CHAIR = 'contype="2" conaffinity="5"'
_CHAIR_LOW = 'contype="8" conaffinity="1"'
_ROBOT = 'contype="4" conaffinity="2"'
_GHOST = 'contype="0" conaffinity="0"'

_BASE_HALF = (0.3, 0.25, 0.15)  # the base box's half sizes
# Servoed joints: (name, axis, range). A target of 0 is the middle of the range (the arm
# targets' initial activation), the rest pose every start begins in: arms lowered and bent,
# palms in front of the chest.
_LIFT_RANGE = (-0.3, 0.2)
_ARM_JOINTS = (("shoulder_yaw", "0 0 1", (-0.8, 0.8)), ("shoulder_pitch", "0 1 0", (-0.6, 2.2)),
               ("elbow", "0 1 0", (-2.4, 0.2)), ("wrist", "0 1 0", (-1.2, 1.2)))
_REST = tuple(sum(r) / 2 for r in [_LIFT_RANGE] + [r for _, _, r in _ARM_JOINTS] * 2)
_SEAT_HEIGHT = 0.42
_BACKREST_X = -0.22  # the backrest's centre behind the seat's centre (chair frame)
_BACKREST_HALF = (0.025, 0.22, 0.25)
_BACKREST_Z = 0.33  # the backrest's centre above the seat body's origin
_HOLD_Y = 0.16  # the grip points' columns: the middle and this far to either side
_PALM_RADIUS = 0.05
_UP = (0.0, 0.0, 1.0)  # the axis a chair's heading turns about


def _grip_points() -> list[tuple[str, tuple[float, float, float]]]:
    """The backrest's grip points (seat body frame), where a palm's centre sits when it rests
    on the top edge or on a face: the top edge's outer two (left_hold, right_hold) come first,
    the policy observes them."""
    top = _BACKREST_Z + _BACKREST_HALF[2] + _PALM_RADIUS
    face = _BACKREST_HALF[0] + _PALM_RADIUS
    points = [("left_hold", (_BACKREST_X, _HOLD_Y, top)),
              ("right_hold", (_BACKREST_X, -_HOLD_Y, top)),
              ("top_hold", (_BACKREST_X, 0.0, top))]
    for side, dx in (("rear", -face), ("front", face)):
        for level, z in (("low", 0.2), ("high", 0.45)):
            for column, y in (("left", _HOLD_Y), ("middle", 0.0), ("right", -_HOLD_Y)):
                points.append((f"{side}_{level}_{column}_hold", (_BACKREST_X + dx, y, z)))
    return points


def _grip_sites() -> str:
    return "\n        ".join(
        f'<site name="{name}" pos="{x} {y} {z}" size="0.012" rgba="0.9 0.8 0.2 1"/>'
        for name, (x, y, z) in _grip_points())


def _grip_constraints() -> str:
    # One constraint per palm and grip point, all off until a grip switches one on.
    return "\n    ".join(
        f'<connect name="{side}_grip_{name}" site1="{side}_grip" site2="{name}" '
        f'active="false" solref="0.02 1"/>'
        for side in ("left", "right") for name, _ in _grip_points())


def _joint(side: str, k: int) -> str:
    name, axis, (lo, hi) = _ARM_JOINTS[k]
    return f'<joint name="{side}_{name}" axis="{axis}" range="{lo} {hi}"/>'


def _arm(side: str, y: float) -> str:
    """One arm: shoulder yaw and pitch, elbow, wrist; zero pose straight forward."""
    return f"""
        <body name="{side}_upper_arm" pos="0.1 {y} 0">
          {_joint(side, 0)}
          {_joint(side, 1)}
          <geom type="capsule" fromto="0 0 0 0.35 0 0" size="0.035" mass="1.5" {_GHOST}
                rgba="0.85 0.85 0.9 1"/>
          <body name="{side}_forearm" pos="0.35 0 0">
            {_joint(side, 2)}
            <geom type="capsule" fromto="0 0 0 0.33 0 0" size="0.03" mass="1.0" {_ROBOT}
                  rgba="0.85 0.85 0.9 1"/>
            <body name="{side}_hand" pos="0.33 0 0">
              {_joint(side, 3)}
              <site name="{side}_grip" pos="0.03 0 0" size="0.01"/>
              <geom name="{side}_palm" type="sphere" size="{_PALM_RADIUS}" pos="0.03 0 0"
                    mass="0.3" {_ROBOT} rgba="0.2 0.2 0.25 1"/>
            </body>
          </body>
        </body>"""


def _chair_legs() -> str:
    legs = []
    for k in range(5):
        phi = 2 * math.pi * k / 5 + math.pi / 5  # no leg straight back: the robot stands there
        c, s = math.cos(phi), math.sin(phi)
        legs.append(f'<geom type="capsule" fromto="0 0 0.09 {0.30 * c:.4f} {0.30 * s:.4f} 0.06"'
                    f' size="0.02" mass="0.8" {_CHAIR_LOW} rgba="0.15 0.15 0.15 1"/>')
        legs.append(f'<geom type="sphere" size="0.04" pos="{0.32 * c:.4f} {0.32 * s:.4f} 0.04"'
                    f' mass="0.1" friction="0.05 0.005 0.0001" priority="1" {_CHAIR_LOW}'
                    f' rgba="0.1 0.1 0.1 1"/>')
    return "\n          ".join(legs)


_MJCF = f"""
<mujoco model="pushchair">
  <compiler angle="radian"/>
  <option timestep="0.01"/>
  <default>
    <joint damping="2" armature="0.05" limited="true"/>
    <geom friction="0.8 0.01 0.001"/>
  </default>
  <visual><headlight ambient="0.45 0.45 0.45" diffuse="0.6 0.6 0.6"/></visual>
  <asset>
    <texture name="grid" type="2d" builtin="checker" width="256" height="256"
             rgb1="0.32 0.36 0.42" rgb2="0.26 0.3 0.36"/>
    <material name="grid" texture="grid" texrepeat="4 4"/>
  </asset>
  <worldbody>
    <light pos="0 0 4" dir="0 0 -1" directional="true"/>
    <geom name="floor" type="plane" size="6 6 0.1" material="grid" {_FLOOR}/>
    <geom name="target" type="cylinder" size="0.15 0.002" pos="0 0 0.002"
          rgba="0.9 0.15 0.15 0.8" contype="0" conaffinity="0"/>
    <body name="base" pos="0 0 0">
      <joint name="base_x" type="slide" axis="1 0 0" limited="false" damping="0"
             armature="0"/>
      <joint name="base_y" type="slide" axis="0 1 0" limited="false" damping="0"
             armature="0"/>
      <joint name="base_yaw" type="hinge" axis="0 0 1" limited="false" damping="0"
             armature="0"/>
      <geom name="base" type="box" size="{_BASE_HALF[0]} {_BASE_HALF[1]} {_BASE_HALF[2]}"
            pos="0 0 {0.1 + _BASE_HALF[2]}" mass="40" {_ROBOT} rgba="0.3 0.45 0.7 1"/>
      <geom type="capsule" fromto="0 0 0.4 0 0 0.85" size="0.06" mass="8" {_GHOST}
            rgba="0.3 0.45 0.7 1"/>
      <body name="torso" pos="0.1 0 0.95">
        <joint name="lift" type="slide" axis="0 0 1" range="{_LIFT_RANGE[0]} {_LIFT_RANGE[1]}"
               damping="20"/>
        <geom type="box" size="0.1 0.28 0.07" mass="4" {_GHOST} rgba="0.3 0.45 0.7 1"/>
        {_arm("left", 0.22)}
        {_arm("right", -0.22)}
      </body>
    </body>
    <body name="chair" pos="0 0 0">
      <freejoint name="chair"/>
      <geom type="capsule" fromto="0 0 0.09 0 0 {_SEAT_HEIGHT - 0.02}" size="0.03" mass="3"
            {_CHAIR_LOW} rgba="0.15 0.15 0.15 1"/>
      {_chair_legs()}
      <body name="seat" pos="0 0 {_SEAT_HEIGHT}">
        <joint name="swivel" axis="0 0 1" limited="false" damping="2" armature="0.01"/>
        <geom name="seat" type="box" size="0.23 0.23 0.03" pos="0 0 0.03" mass="2.5"
              {_CHAIR} rgba="0.1 0.3 0.25 1"/>
        {_grip_sites()}
        <geom name="backrest" type="box" size="{' '.join(map(str, _BACKREST_HALF))}"
              pos="{_BACKREST_X} 0 {_BACKREST_Z}" mass="1.5" {_CHAIR} rgba="0.1 0.3 0.25 1"/>
      </body>
    </body>
  </worldbody>
  <equality>
    {_grip_constraints()}
  </equality>
  <actuator>
    <velocity joint="base_x" kv="400" ctrlrange="-1.5 1.5" forcerange="-400 400"/>
    <velocity joint="base_y" kv="400" ctrlrange="-1.5 1.5" forcerange="-400 400"/>
    <velocity joint="base_yaw" kv="80" ctrlrange="-1 1" forcerange="-120 120"/>
    {{servos}}
  </actuator>
</mujoco>
"""


def _servo(joint: str, lo: float, hi: float, kp: float, kv: float, force: float,
           rate: float | None = None) -> str:
    """A position servo whose target in [-1, 1] spans the joint's range (0: mid-range). The
    target is the control itself, or, given a `rate`, the actuator's activation, which the
    control in [-1, 1] moves at up to `rate` per second (an integrator limited to [-1, 1])."""
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    gain = kp * half
    dynamics = ""
    if rate is not None:
        # act' = ctrl, so the activation is kept in units of 1/rate half-ranges.
        gain *= rate
        dynamics = (f'dyntype="integrator" actlimited="true" '
                    f'actrange="{-1 / rate:.6f} {1 / rate:.6f}" ')
    return (f'<general joint="{joint}" ctrlrange="-1 1" {dynamics}gainprm="{gain:.4f}" '
            f'biastype="affine" biasprm="{kp * mid:.4f} {-kp:.4f} {-kv:.4f}" '
            f'forcerange="{-force} {force}"/>')


def _servos() -> str:
    lines = [_servo("lift", *_LIFT_RANGE, 3000.0, 300.0, 600.0)]
    for side in ("left", "right"):
        lines += [_servo(f"{side}_{name}", lo, hi, 200.0, 10.0, 80.0, rate=ARM_TARGET_RATE)
                  for name, _, (lo, hi) in _ARM_JOINTS]
    return "\n    ".join(lines)


def _to_heading(v: jax.Array, yaw: jax.Array) -> jax.Array:
    """World-frame vectors [..., 2 or 3] turned into the frame of a heading `yaw` about z."""
    c, s = jnp.cos(yaw), jnp.sin(yaw)
    x, y = v[..., 0], v[..., 1]
    return jnp.concatenate([jnp.stack([c * x + s * y, c * y - s * x], axis=-1), v[..., 2:]],
                           axis=-1)


def _tilt_from_quat(quat: jax.Array) -> jax.Array:
    """Angle between a body's z axis and the world's z axis, from its (w, x, y, z) quaternion."""
    x, y = quat[1], quat[2]
    return jnp.arccos(jnp.clip(1.0 - 2.0 * (x * x + y * y), -1.0, 1.0))


class PushChair(Robot):
    name = "pushchair"
    task = ("Push the office chair onto the red target marker on the floor without letting it "
            "tip over.")
    n_frames = 5
    episode_length = 400
    camera_pos = (0.0, -5.2, 4.4)  # the target in the middle: chair and robot on any side
    camera_target = (0.0, 0.3, 0.0)
    follow_in_videos = False  # the fixed view holds robot, chair and target
    settle_seconds = 2.0
    native_fields = ("xpos", "xmat", "geom_xpos", "geom_xmat", "site_xpos", "eq_active", "act")
    grip_actions = 2
    program_state_size = 5

    def __init__(self) -> None:
        spec = mujoco.MjSpec.from_string(_MJCF.replace("{servos}", _servos()))
        physics.add_fixed_camera(spec, self.camera_pos, self.camera_target)
        # 10 solver iterations: at 6 the five caster contacts do not converge under a push and
        # one step can throw the chair into the air (benchmarks/results/pushchair_cpu.md).
        self.mj_model, self.mjx_model = physics.finish_model(spec, iterations=10, ls_iterations=8)
        m = self.mj_model
        jnt = lambda n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)  # noqa: E731
        geom = lambda n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n)  # noqa: E731
        body = lambda n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, n)  # noqa: E731
        self.chair_q = int(m.jnt_qposadr[jnt("chair")])  # x, y, z, quaternion
        self.chair_v = int(m.jnt_dofadr[jnt("chair")])  # linear (world), angular (local)
        self.swivel_q = int(m.jnt_qposadr[jnt("swivel")])
        self.swivel_v = int(m.jnt_dofadr[jnt("swivel")])
        self.robot_nq = self.chair_q  # the robot's joints come first in qpos and qvel
        self.base_body, self.chair_body = body("base"), body("chair")
        self.surfaces = jnp.array([geom("backrest"), geom("seat")])
        self.surface_half = jnp.asarray(m.geom_size[np.asarray(self.surfaces)], jnp.float32)
        self.palms = jnp.array([geom("left_palm"), geom("right_palm")])
        site = lambda n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, n)  # noqa: E731
        self.grips = jnp.array([site("left_grip"), site("right_grip")])
        self.holds = jnp.array([site("left_hold"), site("right_hold")])
        self.grip_points = jnp.array([site(name) for name, _ in _grip_points()])
        self.height_index = self.chair_q + 2  # the sampler drops the chair, not the robot
        self.knocked_over = jnp.asarray(self._settle_knocked_over(), jnp.float32)
        self.arm_targets = int(m.na)  # the arm servos' moving targets, one per arm joint
        self.observation_size = (2 + 9 + self.robot_nq + self.arm_targets + 3 + 6 + 2 + 6 + 6
                                 + 2 + 4 + 5)
        super().__init__()

    # ----- derived quantities (both engines: only fields in native_fields)
    def chair_tilt(self, qpos: jax.Array) -> jax.Array:
        return _tilt_from_quat(qpos[self.chair_q + 3:self.chair_q + 7])

    def palm_distances(self, data: mjx.Data) -> jax.Array:
        """Each palm's gap to the nearest point of the seat or the backrest (the chair's two
        boxes; ManiSkill2 measures to the chair's whole surface): from the palm's surface, not
        its centre, so that a palm on the chair reads 0 as a ManiSkill2 finger on it does (the
        paper's programs test "hands at the chair" as a mean below 0.1 m; from the centres,
        the original pushing with one palm on the backrest read 0.12, pushchair_cpu.md)."""
        palms = field(data, "geom_xpos")[self.palms]  # [2, 3]
        centres = field(data, "geom_xpos")[self.surfaces]  # [2, 3]
        frames = field(data, "geom_xmat")[self.surfaces].reshape(-1, 3, 3)
        local = jnp.einsum("pbi,bij->pbj", palms[:, None] - centres[None], frames)
        outside = local - jnp.clip(local, -self.surface_half, self.surface_half)
        centre_gap = jnp.min(jnp.linalg.norm(outside, axis=-1), axis=1)
        return jnp.maximum(centre_gap - _PALM_RADIUS, 0.0)

    def grip_offsets(self, data: mjx.Data) -> jax.Array:
        """Each hold minus its palm's grip point, world frame [2, 3]."""
        sites = field(data, "site_xpos")
        return sites[self.holds] - sites[self.grips]

    def grip_point_distances(self, data: mjx.Data) -> jax.Array:
        """Each palm's grip point to each of the backrest's grip points [2, points]."""
        sites = field(data, "site_xpos")
        offsets = sites[self.grip_points][None] - sites[self.grips][:, None]
        return jnp.linalg.norm(offsets, axis=-1)

    def _held(self, data: mjx.Data) -> jax.Array:
        """Which grip point each palm holds, one-hot or all off [2, points]."""
        return field(data, "eq_active").reshape(2, -1) > 0.5

    def holding(self, data: mjx.Data) -> jax.Array:
        """Whether each palm holds the backrest (float [2])."""
        return jnp.any(self._held(data), axis=-1).astype(jnp.float32)

    def grip(self, data: mjx.Data, commands: jax.Array) -> jax.Array:
        # A hold is kept, wherever the palm then goes, until the command falls below
        # GRIP_RELEASE; a free palm takes the nearest grip point within reach at a positive
        # command.
        held = self._held(data)
        distances = self.grip_point_distances(data)
        nearest = jax.nn.one_hot(jnp.argmin(distances, axis=-1), distances.shape[-1]) > 0.5
        in_reach = jnp.min(distances, axis=-1, keepdims=True) < GRIP_REACH
        keep = held & (commands[:, None] >= GRIP_RELEASE)
        take = nearest & in_reach & (commands[:, None] > 0)
        return jnp.where(jnp.any(held, axis=-1, keepdims=True), keep, take).ravel()

    def grip_names(self) -> list[str]:
        return ["left_grip", "right_grip"]

    def controls(self, data: mjx.Data, ctrl: jax.Array) -> jax.Array:
        # The base's actions are forward and sideways speeds in its own heading; its servos
        # drive the world-frame slide joints.
        yaw = data.qpos[..., 2]
        world = _to_heading(ctrl[..., :2], -yaw)
        return jnp.concatenate([world, ctrl[..., 2:]], axis=-1)

    def arm_target_positions(self, data: mjx.Data) -> jax.Array:
        """Where the arm servos are driving each arm joint, in [-1, 1] of its range."""
        return field(data, "act") * ARM_TARGET_RATE

    def scripted_action(self, data: mjx.Data, base: ArrayLike = (0.0, 0.0, 0.0),
                        lift: float = 0.0, arms: ArrayLike | None = None,
                        grips: ArrayLike = (0.0, 0.0)) -> jax.Array:
        """An action for scripted controllers (tests, benchmarks): base speeds in its heading,
        the lift's target, the arm joints' targets moved towards `arms` (8 targets in [-1, 1];
        default: hold them) as fast as their rate allows, the two grip commands."""
        current = self.arm_target_positions(data)
        wanted = current if arms is None else jnp.asarray(arms, jnp.float32)
        rates = jnp.clip((wanted - current) / (ARM_TARGET_RATE * self.dt), -1.0, 1.0)
        return jnp.concatenate([jnp.asarray(base, jnp.float32), jnp.asarray([lift], jnp.float32),
                                rates, jnp.asarray(grips, jnp.float32)])

    def program_features(self, data: mjx.Data) -> jax.Array:
        """The paper's 5-d vector that reward programs read."""
        chair_v = data.qvel[self.chair_v:self.chair_v + 6]
        return jnp.stack([
            jnp.mean(self.palm_distances(data)),
            jnp.linalg.norm(data.qpos[self.chair_q:self.chair_q + 2]),
            self.chair_tilt(data.qpos),
            jnp.linalg.norm(chair_v[:3]),
            jnp.linalg.norm(chair_v[3:]),
        ])

    def program_state(self, obs: jax.Array) -> jax.Array:
        return obs[..., -self.program_state_size:]

    def observe(self, data: mjx.Data) -> jax.Array:
        qpos, qvel = data.qpos, data.qvel
        xpos = field(data, "xpos")
        base, chair = xpos[self.base_body], xpos[self.chair_body]
        chair_frame = field(data, "xmat")[self.chair_body].reshape(3, 3)
        yaw = qpos[2]
        own = lambda v: _to_heading(v, yaw)  # noqa: E731
        return jnp.concatenate([
            jnp.stack([jnp.sin(yaw), jnp.cos(yaw)]),
            qpos[3:self.robot_nq],  # lift and the arms' joints
            own(qvel[:2]), qvel[2:self.robot_nq],
            self.arm_target_positions(data),
            own(chair - base),
            own(chair_frame[:, 2]), own(chair_frame[:, 0]),  # the chair's up and forward axes
            jnp.stack([qpos[self.swivel_q], qvel[self.swivel_v]]),
            own(qvel[self.chair_v:self.chair_v + 3]), qvel[self.chair_v + 3:self.chair_v + 6],
            own(self.grip_offsets(data)).ravel(),
            self.holding(data),
            own(-base[:2]), own(-chair[:2]),  # the target (the origin) from base and chair
            self.program_features(data),
        ])

    # ----- task
    def task_reward(self, before: mjx.Data, after: mjx.Data, action: jax.Array
                    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Dense, in the spirit of ManiSkill2's PushChair reward, kept positive so that the
        Normal env's termination (the chair tipping past 0.1 pi) is never worth seeking:
        reach the backrest, move the chair onto the target, keep it upright and still, a bonus
        while it is there."""
        d_ee, d_target, tilt, speed, spin = self.program_features(after)
        d_before = jnp.linalg.norm(before.qpos[self.chair_q:self.chair_q + 2])
        # tanh(2 d): still steep at the 0.3-0.7 m the palms start from (5 d was flat there:
        # a 3M-step PPO probe stood still beside the chair, session 32)
        reach = 1.0 - jnp.tanh(2.0 * d_ee)
        push = 1.0 - jnp.tanh(2.0 * d_target)
        progress = jnp.clip((d_before - d_target) / self.dt, -1.0, 1.0)
        upright = 1.0 - jnp.clip(tilt / MAX_TILT, 0.0, 1.0)
        success = ((d_target < SUCCESS_DISTANCE) & (tilt < SUCCESS_TILT)).astype(jnp.float32)
        calm = 0.1 * jnp.tanh(spin)
        ctrl_cost = 1e-3 * jnp.sum(jnp.square(action))
        reward = reach + 2.0 * push + progress + upright + 2.0 * success - calm - ctrl_cost
        return reward, {"reach": reach, "push": push, "progress": progress, "upright": upright,
                        "success": success, "ctrl_cost": ctrl_cost, "distance": d_target,
                        "tilt": tilt}

    def validity_conditions(self, qpos: jax.Array, qvel: jax.Array) -> dict[str, jax.Array]:
        return {"chair tilt <= 0.1 pi": self.chair_tilt(qpos) <= MAX_TILT}

    # ----- starts
    def _layout(self, key: jax.Array, noise: float, gap: tuple[float, float] = ROBOT_GAP
                ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Where the chair and the robot stand: the chair CHAIR_DISTANCE from the target along
        a direction near -x (+- `noise` rad; pi: any side), its seat facing the target; the
        robot behind it. Returns (chair xy, chair yaw, robot qpos)."""
        k_dir, k_dist, k_gap, k_side, k_yaw, k_arm = jax.random.split(key, 6)
        u = lambda k, a, shape=(): jax.random.uniform(k, shape, minval=-a, maxval=a)  # noqa: E731
        direction = math.pi + u(k_dir, noise)
        distance = CHAIR_DISTANCE + u(k_dist, 0.1)
        unit = jnp.stack([jnp.cos(direction), jnp.sin(direction)])
        chair_xy = distance * unit
        gap = jax.random.uniform(k_gap, (), minval=gap[0], maxval=gap[1])
        behind = -_BACKREST_X + gap + _BASE_HALF[0]  # chair centre to base centre
        base_xy = chair_xy + behind * unit + u(k_side, 0.1) * jnp.stack([-unit[1], unit[0]])
        robot = jnp.concatenate([base_xy, (direction - math.pi + u(k_yaw, 0.1))[None],
                                 jnp.asarray(_REST) + u(k_arm, 0.05, (len(_REST),))])
        return chair_xy, direction - math.pi, robot

    def _qpos(self, robot: jax.Array, chair_xy: jax.Array, chair_z: jax.Array,
              chair_quat: jax.Array, swivel: jax.Array) -> jax.Array:
        return jnp.concatenate([robot, chair_xy, chair_z[None], chair_quat, swivel[None]])

    def default_qpos(self) -> jax.Array:
        # qpos0 would put robot and chair on the target: the noise-free Normal layout instead.
        behind = -_BACKREST_X + sum(ROBOT_GAP) / 2 + _BASE_HALF[0]
        robot = jnp.array([-CHAIR_DISTANCE - behind, 0.0, 0.0, *_REST])
        return self._qpos(robot, jnp.array([-CHAIR_DISTANCE, 0.0]), jnp.asarray(0.001),
                          axis_angle_quat(_UP, 0.0), jnp.asarray(0.0))

    def normal_state(self, key: jax.Array, gap: tuple[float, float] = ROBOT_GAP,
                     swivel: float = 0.3) -> tuple[jax.Array, jax.Array]:
        # The chair on any side of the target, as in ManiSkill2's PushChair.
        k_layout, k_swivel = jax.random.split(key)
        chair_xy, yaw, robot = self._layout(k_layout, noise=math.pi, gap=gap)
        turn = jax.random.uniform(k_swivel, (), minval=-swivel, maxval=swivel)
        qpos = self._qpos(robot, chair_xy, jnp.asarray(0.001), axis_angle_quat(_UP, yaw), turn)
        return qpos, jnp.zeros(self.mj_model.nv)

    def recovered_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        # The chair upright with the palms at its backrest (the rest pose reaches 0.45 m past
        # the base's front edge): where the pushing goes on.
        return self.normal_state(key, gap=(0.38, 0.42), swivel=0.05)

    def ood_paper_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        # The chair lies on its side where the Normal chair would stand, facing the target;
        # only the robot's pose is noisy (spec §2).
        _, _, robot = self._layout(key, noise=0.0)
        k = self.knocked_over
        qpos = self._qpos(robot, k[:2] + jnp.array([-CHAIR_DISTANCE, 0.0]), k[2], k[3:7], k[7])
        return qpos, jnp.zeros(self.mj_model.nv)

    def ood_diverse_candidate(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        k_layout, k_rot, k_swivel = jax.random.split(key, 3)
        chair_xy, _, robot = self._layout(k_layout, noise=math.pi)
        swivel = jax.random.uniform(k_swivel, (), minval=-math.pi, maxval=math.pi)
        # z = 0 puts the chair into the floor; the sampler lifts it clear and drops it.
        qpos = self._qpos(robot, chair_xy, jnp.asarray(0.0), random_unit_quat(k_rot), swivel)
        return qpos, jnp.zeros(self.mj_model.nv)

    def _settle_knocked_over(self) -> np.ndarray:
        """The chair at rest on its side (x, y, z, quaternion, swivel) beside the origin, found
        once by dropping it in the C engine: the paper's OOD chair pose is deterministic."""
        m = self.mj_model
        data = mujoco.MjData(m)
        quat = np.asarray(axis_angle_quat((0.0, 1.0, 0.0), -math.pi / 2))  # onto its back
        data.qpos[self.chair_q:self.chair_q + 7] = [0.0, 0.0, 0.3, *quat]
        data.qpos[:3] = [-3.0, 0.0, 0.0]  # the robot well out of the way
        for _ in range(round(self.settle_seconds / m.opt.timestep)):
            mujoco.mj_step(m, data)
        return np.concatenate([data.qpos[self.chair_q:self.chair_q + 7],
                               data.qpos[self.swivel_q:self.swivel_q + 1]])

    # ----- the LLM-facing documentation
    def action_meaning(self, joint: str) -> str:
        if joint in self.grip_names():
            side = joint.split("_")[0]
            return (f"> 0: the {side} palm takes hold of the backrest at the nearest of its "
                    f"grip points (top edge, both faces) within {GRIP_REACH} m and keeps it "
                    f"until the action falls below {GRIP_RELEASE} (then lets go)")
        if joint == "base_x":
            return "base speed forward (along its heading), in m/s (a velocity servo)"
        if joint == "base_y":
            return "base speed sideways (to its left), in m/s (a velocity servo)"
        if joint == "base_yaw":
            return "base turning rate about z, in rad/s (a velocity servo)"
        if joint == "lift":
            return ("target position of the torso lift (a position servo): -1 and 1 are the "
                    "ends of its range, 0 its middle")
        return (f"how fast the target of joint {joint}'s position servo moves: +-1 moves it "
                f"{ARM_TARGET_RATE / 2:g} of the joint's range per second, 0 holds it; it "
                "stays within the range (the joint follows its target)")

    def obs_fields(self) -> list[ObsField]:
        names = [mujoco.mj_id2name(self.mj_model, mujoco.mjtObj.mjOBJ_JOINT, j)
                 for j in range(self.mj_model.njnt)][:self.robot_nq]
        fields = [ObsField(0, 2, "base_yaw", "sin and cos of the base's heading (0: facing +x); "
                                             "every vector below is in the base's heading frame "
                                             "(x forward, y to its left, z up)", "-")]
        at = 2
        for name in names[3:]:
            fields.append(ObsField(at, 1, name, f"position of joint {name}",
                                   "m" if name == "lift" else "rad"))
            at += 1
        speeds = {"base_x": "the base's forward speed", "base_y": "the base's sideways speed"}
        for name in names:
            fields.append(ObsField(at, 1, f"{name}_vel", speeds.get(name, f"velocity of joint "
                                                                          f"{name}"),
                                   "m/s" if name in ("base_x", "base_y", "lift") else "rad/s"))
            at += 1
        for name in names[4:]:
            fields.append(ObsField(at, 1, f"{name}_target", f"where joint {name}'s servo is "
                                   "driving it: -1 and 1 are the ends of its range", "-"))
            at += 1
        rest = [(3, "chair_from_base", "chair base position minus robot base position", "m"),
                (3, "chair_up", "the chair's up axis (0, 0, 1 when upright)", "-"),
                (3, "chair_forward", "the chair base's forward axis", "-"),
                (2, "swivel", "the seat's swivel angle and angular velocity", "rad, rad/s"),
                (3, "chair_linvel", "chair linear velocity", "m/s"),
                (3, "chair_angvel", "chair angular velocity, chair frame", "rad/s"),
                (3, "left_hold_from_palm", "the backrest's left hold (top edge) minus the left "
                 "palm", "m"),
                (3, "right_hold_from_palm", "the backrest's right hold (top edge) minus the "
                 "right palm", "m"),
                (2, "holding", "1 while the left / right palm holds the backrest, else 0", "-"),
                (2, "target_from_base", "the target marker minus the base position (x, y)",
                 "m"),
                (2, "target_from_chair", "the target marker minus the chair position (x, y)",
                 "m")]
        for size, name, meaning, unit in rest:
            fields.append(ObsField(at, size, name, meaning, unit))
            at += size
        return fields + [ObsField(at + f.start, f.size, f.name, f.meaning, f.unit)
                         for f in self.program_fields()]

    def program_fields(self) -> list[ObsField]:
        return [
            ObsField(0, 1, "ee_distance", "mean distance from the robot's two palms (end "
                     "effectors) to the chair's seat or backrest, whichever is nearer, from the "
                     "palm's surface: 0 when touching it", "m"),
            ObsField(1, 1, "target_distance", "distance in the floor plane from the chair to "
                     "the target marker", "m"),
            ObsField(2, 1, "chair_tilt", "angle between the chair's up axis and the vertical: "
                     "0 upright, about 1.57 lying on its side", "rad"),
            ObsField(3, 1, "chair_speed", "the chair's linear speed", "m/s"),
            ObsField(4, 1, "chair_spin", "the chair's angular speed", "rad/s"),
        ]
