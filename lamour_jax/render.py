"""Offscreen rendering of env states from the env's fixed camera: PNG images, GIF rollouts.

Uses `mujoco.Renderer` on the CPU copy of the model. `MUJOCO_GL` defaults to `egl` (set in
`lamour_jax/__init__.py`), which works headless with Mesa or NVIDIA drivers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import mujoco
import numpy as np
from PIL import Image

from lamour_jax.envs import Env


class RenderError(RuntimeError):
    """No usable OpenGL backend, or a bad output path."""


@contextmanager
def renderer(env: Env, width: int = 640, height: int = 480) -> Iterator[mujoco.Renderer]:
    model = env.robot.mj_model
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


def render_frames(
    env: Env, qpos: Iterable[np.ndarray], width: int = 640, height: int = 480
) -> list[np.ndarray]:
    """RGB frames (H, W, 3) of the given configurations, from the env's fixed camera."""
    model = env.robot.mj_model
    data = mujoco.MjData(model)
    frames = []
    with renderer(env, width, height) as r:
        for q in qpos:
            data.qpos[:] = np.asarray(q, np.float64)
            data.qvel[:] = 0.0
            mujoco.mj_forward(model, data)
            r.update_scene(data, camera=env.camera)
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


def save_gif(frames: list[np.ndarray], path: Path, fps: float = 20.0) -> Path:
    path = _check_out(path, (".gif",))
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:],
                   duration=round(1000 / fps), loop=0)
    return path


def grid(frames: list[np.ndarray], columns: int) -> np.ndarray:
    """Tile equally sized frames into one image (row-major), padding with black."""
    h, w, c = frames[0].shape
    rows = -(-len(frames) // columns)
    out = np.zeros((rows * h, columns * w, c), np.uint8)
    for i, f in enumerate(frames):
        out[(i // columns) * h:(i // columns + 1) * h, (i % columns) * w:(i % columns + 1) * w] = f
    return out
