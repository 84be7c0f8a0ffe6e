"""Offscreen rendering of env states: PNG images from the env's fixed camera, GIF episodes
from the camera that follows the robot.

Uses `mujoco.Renderer` on a drawing copy of the CPU model (see `drawing_model`). `MUJOCO_GL`
defaults to `egl` (set in `lamour_jax/__init__.py`), which works headless with Mesa or NVIDIA
drivers.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import mujoco
import numpy as np
from PIL import Image

from lamour_jax.envs import Env


class RenderError(RuntimeError):
    """No usable OpenGL backend, or a bad output path."""


# A plane collides everywhere but is drawn only to its size (brax's ant floor: 80 m across),
# and a robot that walks on for a whole episode leaves it: a recovered ant went 117 m. Drawing
# copies of the models have floors this many times larger, with the same checker squares.
FLOOR_SCALE = 25.0


def drawing_model(env: Env) -> mujoco.MjModel:
    """A copy of the env's CPU model for rendering only: floors enlarged by FLOOR_SCALE."""
    model = copy.deepcopy(env.robot.mj_model)
    for geom in np.flatnonzero(model.geom_type == mujoco.mjtGeom.mjGEOM_PLANE):
        model.geom_size[geom, :2] *= FLOOR_SCALE
        material = model.geom_matid[geom]
        if material >= 0 and not model.mat_texuniform[material]:  # repeats per plane
            model.mat_texrepeat[material] *= FLOOR_SCALE
    return model


@contextmanager
def renderer(model: mujoco.MjModel, width: int = 640, height: int = 480
             ) -> Iterator[mujoco.Renderer]:
    try:
        r = mujoco.Renderer(model, height=height, width=width)
    except Exception as err:  # mujoco raises several types depending on the backend
        backend = os.environ.get("MUJOCO_GL", "(unset)")
        raise RenderError(
            f"offscreen rendering is not available (MUJOCO_GL={backend}): {err}. "
            "On a headless Linux machine install Mesa EGL (Debian/Ubuntu: "
            "`apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri`) and use MUJOCO_GL=egl, "
            "or install libosmesa6 and use MUJOCO_GL=osmesa."
        ) from err
    try:
        yield r
    finally:
        r.close()  # explicit: EGL contexts freed at interpreter exit print spurious errors


def following_camera(env: Env, model: mujoco.MjModel
                     ) -> Callable[[mujoco.MjData], mujoco.MjvCamera]:
    """The env's fixed camera view as a free camera that keeps its offset from the robot's
    centre of mass at the spawn pose: constant orientation, so a flipping torso does not turn
    the picture over, and nothing added to the model (the physics state stays the same)."""
    pos, target = np.asarray(env.robot.camera_pos), np.asarray(env.robot.camera_target)
    forward = target - pos
    spawn = mujoco.MjData(model)
    mujoco.mj_forward(model, spawn)
    offset = target - spawn.subtree_com[0]  # the world body's subtree: the whole robot
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FREE
    camera.distance = float(np.linalg.norm(forward))
    camera.azimuth = float(np.degrees(np.arctan2(forward[1], forward[0])))
    camera.elevation = float(np.degrees(np.arcsin(forward[2] / camera.distance)))

    def aim(data: mujoco.MjData) -> mujoco.MjvCamera:
        camera.lookat[:] = data.subtree_com[0] + offset
        return camera

    return aim


def render_frames(
    env: Env, qpos: Iterable[np.ndarray], width: int = 640, height: int = 480,
    follow: bool = False,
) -> list[np.ndarray]:
    """RGB frames (H, W, 3) of the given configurations from the env's fixed camera (the view
    the describe stage gets), or with `follow` from that view moving with the robot."""
    model = drawing_model(env)
    data = mujoco.MjData(model)
    aim = following_camera(env, model) if follow else lambda _: env.camera
    frames = []
    with renderer(model, width, height) as r:
        for q in qpos:
            data.qpos[:] = np.asarray(q, np.float64)
            data.qvel[:] = 0.0
            mujoco.mj_forward(model, data)
            r.update_scene(data, camera=aim(data))
            frames.append(r.render().copy())
    return frames


def _check_out(path: Path, suffixes: tuple[str, ...]) -> Path:
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise RenderError(f"{path}: expected a file ending in {' or '.join(suffixes)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_png(frame: np.ndarray, path: Path) -> Path:
    path = _check_out(path, (".png",))
    Image.fromarray(frame).save(path)
    return path


def save_gif(frames: list[np.ndarray], path: Path, fps: float = 20.0,
             hold_last_s: float = 0.0) -> Path:
    """An endlessly looping GIF; the last frame stays up for at least `hold_last_s`."""
    path = _check_out(path, (".gif",))
    images = [Image.fromarray(f) for f in frames]
    frame_ms = round(1000 / fps)
    durations = [frame_ms] * (len(images) - 1) + [max(frame_ms, round(1000 * hold_last_s))]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path


# GIF delays are whole centiseconds and viewers slow down anything under 2 of them.
MAX_GIF_FPS = 50.0


def save_episode_gif(env: Env, qpos: np.ndarray, path: Path, stride: int = 1,
                     width: int = 320, height: int = 240) -> Path:
    """A GIF of one episode from its configurations (start to end): every `stride`-th step and
    always the last (the pose it ended in, held for a second), at real time where a GIF can,
    from the camera that follows the robot."""
    picked = list(qpos[::stride])
    if (len(qpos) - 1) % stride:
        picked.append(qpos[-1])
    frames = render_frames(env, picked, width, height, env.robot.follow_in_videos)
    return save_gif(frames, path, fps=min(MAX_GIF_FPS, 1.0 / (env.dt * stride)), hold_last_s=1.0)


def grid(frames: list[np.ndarray], columns: int) -> np.ndarray:
    """Tile equally sized frames into one image (row-major), padding with black."""
    h, w, c = frames[0].shape
    rows = -(-len(frames) // columns)
    out = np.zeros((rows * h, columns * w, c), np.uint8)
    for i, f in enumerate(frames):
        out[(i // columns) * h:(i // columns + 1) * h, (i % columns) * w:(i % columns + 1) * w] = f
    return out
