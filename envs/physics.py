"""MJX access and model building shared by all robots.

Models come from pinned packages (brax's Gym-MuJoCo assets, dm_control's humanoid) and are
edited with `mujoco.MjSpec` at load time, never copied: see `load_spec` and `finish_model`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import warnings
from pathlib import Path

import jax
import mujoco
import numpy as np

# mujoco.mjx prints "Failed to import warp" on import when the optional CUDA-only Warp
# backend is absent (always, on CPU). It is noise for our users: swallow it here, once.
with contextlib.redirect_stdout(io.StringIO()):
    from mujoco import mjx  # noqa: F401  (re-exported)

FIXED_CAMERA = "lamour_fixed"


def package_file(package: str, *parts: str) -> Path:
    """Path of a data file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed (run `make install`)")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} missing from the installed {package!r}")
    return path


def load_spec(package: str, *parts: str) -> mujoco.MjSpec:
    return mujoco.MjSpec.from_file(str(package_file(package, *parts)))


def collide_with_floor_only(spec: mujoco.MjSpec, floor: str = "floor") -> None:
    """Every body geom touches the floor; body-body contacts stay off.

    brax's assets let only the feet touch the floor (enough for walking, cheap in MJX), so a
    fallen robot would sink through it. Recovery needs torso, thighs and shins to rest on the
    ground. Self-collision stays off as in brax: it costs O(n^2) collision pairs in MJX.
    """
    for geom in spec.geoms:
        if geom.name == floor:
            geom.contype, geom.conaffinity = 1, 1
        else:
            geom.contype, geom.conaffinity = 1, 0


def look_at_quat(pos: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera orientation (w, x, y, z) looking from `pos` at `target` with world z up."""
    forward = np.asarray(target, float) - np.asarray(pos, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    # MuJoCo cameras look along their -z axis; columns are the camera's x, y, z in world frame.
    rot = np.stack([right, up, -forward], axis=1)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, rot.flatten())
    return quat


def add_fixed_camera(
    spec: mujoco.MjSpec, pos: tuple[float, ...], target: tuple[float, ...]
) -> None:
    """A world-fixed third-person camera (the image the describe stage sees)."""
    spec.worldbody.add_camera(
        name=FIXED_CAMERA, pos=list(pos), quat=list(look_at_quat(np.array(pos), np.array(target)))
    )


def finish_model(
    spec: mujoco.MjSpec, *, iterations: int, ls_iterations: int, device: bool = True
) -> tuple[mujoco.MjModel, mjx.Model | None]:
    """Compile, cap the solver loops (MJX runs them as while-loops: the cap bounds the
    slowest env in a batch; the C engine keeps the same caps, so that both engines solve the
    same problem) and upload to the device (not with device=False)."""
    with warnings.catch_warnings():
        # half_cheetah.xml uses the deprecated `settotalmass`; it still applies, and the
        # warning would greet every user on every run.
        warnings.filterwarnings("ignore", message=".*settotalmass.*")
        model = spec.compile()
    model.opt.iterations = iterations
    model.opt.ls_iterations = ls_iterations
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, 1280)
    model.vis.global_.offheight = max(model.vis.global_.offheight, 960)
    if not device:
        return model, None
    # This process's own device: with jax.distributed, jax.devices()[0] may be another host's.
    return model, mjx.put_model(model, device=jax.local_devices()[0])
