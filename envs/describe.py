"""Markdown description of an env's state and action vectors, written for a language model:
the input of the code-writing stage. Generated from the robot's observation layout; the
values at spawn and in the paper's OOD pose are computed from the model, so they cannot
drift from the code."""

from __future__ import annotations

import jax
import numpy as np

from lamour_jax.envs.base import Env


def _fmt(values: np.ndarray) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


def describe_env(env: Env) -> str:
    robot = env.robot
    key = jax.random.key(0)
    zero_vel = np.zeros(robot.mj_model.nv, np.float32)
    # The spawn column is the noise-free spawn pose; the OOD column is one paper-mode draw
    # (reset noise included) at rest, as the image the model saw shows it.
    spawn = np.asarray(robot.program_state(robot.observe(robot.make_data(robot.default_qpos(),
                                                                          zero_vel))))
    qpos_ood, _ = robot.ood_paper_state(key)
    ood = np.asarray(robot.program_state(robot.observe(robot.make_data(qpos_ood, zero_vel))))

    lines = [
        f"# {robot.name}: state and action vectors",
        "",
        f"Original task: {robot.task}",
        f"Control step: {env.dt:g} s ({robot.n_frames} physics steps of "
        f"{float(robot.mj_model.opt.timestep):g} s). Episode: {env.episode_length} steps.",
        "",
        f"## State vector `state` (length {robot.program_state_size}, float)",
        "",
        "| index | name | meaning | unit | at normal spawn | in the fallen (OOD) pose |",
        "|---|---|---|---|---|---|",
    ]
    for f in robot.program_fields():
        idx = f"{f.start}" if f.size == 1 else f"{f.start}:{f.start + f.size}"
        lines.append(f"| {idx} | {f.name} | {f.meaning} | {f.unit} | "
                     f"{_fmt(spawn[f.start:f.start + f.size])} | "
                     f"{_fmt(ood[f.start:f.start + f.size])} |")
    lines += [
        "",
        f"## Action vector `action` (length {robot.action_size}, each in [-1, 1])",
        "",
        "| index | joint | meaning |",
        "|---|---|---|",
    ]
    for i, name in enumerate(robot.action_names()):
        lines.append(f"| {i} | {name} | {robot.action_meaning(name)} |")
    lines += [
        "",
        "Angles are in radians. The world frame has x forward, y left, z up; the floor is "
        "at z = 0.",
        "",
    ]
    return "\n".join(lines)
