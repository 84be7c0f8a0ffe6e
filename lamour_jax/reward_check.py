"""`lamour reward check`: a transpiled program evaluated on sampled OOD and Normal states."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from lamour_jax.envs import Robot, robot
from lamour_jax.envs.sampler import OODSampler
from lamour_jax.transpile import RewardProgram

INTERPOLATION_POINTS = 11


@dataclass
class CheckReport:
    env: str
    n: int
    components: dict[str, dict[str, float]]  # name -> min/mean/max over OOD + Normal states
    recovered_ood: float  # fraction of OOD states the program calls recovered
    recovered_normal: float
    valid_ood: float  # the env's own test, for comparison
    never_positive: bool  # the paper's "always negative", with -0.0 and 0.0 allowed
    max_reward: float
    rise_curve: list[float]  # mean reward along OOD -> Normal interpolation
    rising_fraction: float  # fraction of interpolation steps where the reward did not fall

    @property
    def rises(self) -> bool:
        return self.rise_curve[-1] > self.rise_curve[0] and self.rising_fraction >= 0.8

    @property
    def passed(self) -> bool:
        return (self.never_positive and self.rises and self.recovered_normal >= 0.9
                and self.recovered_ood <= 0.1)

    def table(self) -> str:
        lines = [f"reward check: {self.env}, {self.n} OOD + {self.n} Normal states, zero and "
                 "random actions", "",
                 "| component | min | mean | max |", "|---|---:|---:|---:|"]
        for name, s in self.components.items():
            lines.append(f"| {name} | {s['min']:.4g} | {s['mean']:.4g} | {s['max']:.4g} |")
        curve = ", ".join(f"{v:.3g}" for v in self.rise_curve)
        ok = {True: "yes", False: "NO"}
        lines += [
            "",
            "| check | result |", "|---|---|",
            f"| is_recovered on OOD states | {self.recovered_ood:.0%} (want ~0%; env's test "
            f"says valid: {self.valid_ood:.0%}) |",
            f"| is_recovered on recovered states (Normal starts) | {self.recovered_normal:.0%} "
            "(want ~100%) |",
            f"| never positive | {ok[self.never_positive]} (max {self.max_reward:.4g}) |",
            f"| rises toward recovery | {ok[self.rises]} ({self.rising_fraction:.0%} of steps "
            "non-decreasing) |",
            f"| mean reward, OOD -> Normal | {curve} |",
            "",
            f"overall: {'PASS' if self.passed else 'FAIL'}",
        ]
        return "\n".join(lines)


def _interpolate_qpos(r: Robot, ood: jax.Array, normal: jax.Array, t: jax.Array) -> jax.Array:
    qpos = (1.0 - t) * ood + t * normal
    m = r.mj_model
    for j in range(m.njnt):  # free joints: keep their quaternions unit ones
        if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
            a = int(m.jnt_qposadr[j]) + 3
            qpos = qpos.at[a:a + 4].set(qpos[a:a + 4] / jnp.maximum(
                jnp.linalg.norm(qpos[a:a + 4]), 1e-6))
    return qpos


def check_program(program: RewardProgram, env_name: str, n: int = 64, seed: int = 0,
                  mode: str = "paper", physics: str | None = None) -> CheckReport:
    """Evaluate a program on OOD samples, recovered states (`Robot.recovered_state`: Normal
    starts for most envs) and the path between them (states sampled and settled by `physics`,
    default the backend's)."""
    r = robot(env_name, physics)
    key_ood, key_normal, key_action = jax.random.split(jax.random.key(seed), 3)
    qpos_ood, qvel_ood = jax.jit(OODSampler(r, mode).sample, static_argnums=1)(key_ood, n)
    qpos_normal, qvel_normal = jax.jit(jax.vmap(r.recovered_state))(
        jax.random.split(key_normal, n))
    ts = jnp.linspace(0.0, 1.0, INTERPOLATION_POINTS)
    action_size = r.action_size

    @jax.jit
    def evaluate(qpos_ood: jax.Array, qpos_normal: jax.Array, qvel_ood: jax.Array,
                 qvel_normal: jax.Array, key: jax.Array) -> dict[str, jax.Array]:
        def observe(q: jax.Array, v: jax.Array) -> jax.Array:
            return r.program_state(jax.vmap(r.observe)(jax.vmap(r.make_data)(q, v)))

        obs_ood, obs_normal = observe(qpos_ood, qvel_ood), observe(qpos_normal, qvel_normal)
        states = jnp.concatenate([obs_ood, obs_normal])
        zeros = jnp.zeros((2 * n, action_size))
        random = jax.random.uniform(key, (2 * n, action_size), minval=-1.0, maxval=1.0)
        comps = jax.vmap(program.components)(jnp.concatenate([states, states]),
                                             jnp.concatenate([zeros, random]))
        recovered = jax.vmap(program.is_recovered)(states)

        def along(t: jax.Array) -> jax.Array:
            q = jax.vmap(lambda a, b: _interpolate_qpos(r, a, b, t))(qpos_ood, qpos_normal)
            obs = observe(q, jnp.zeros_like(qvel_ood))
            return jnp.mean(jax.vmap(program.calculate_reward)(obs, jnp.zeros((n, action_size))))

        curve = jax.lax.map(along, ts)
        valid = jax.vmap(r.is_valid)(qpos_ood, qvel_ood)
        return {"components": comps, "recovered": recovered, "curve": curve, "valid": valid}

    out = jax.device_get(evaluate(qpos_ood, qpos_normal, qvel_ood, qvel_normal, key_action))
    comps = {name: {"min": float(np.min(v)), "mean": float(np.mean(v)), "max": float(np.max(v))}
             for name, v in out["components"].items()}
    total = out["components"]["total"]
    curve = [float(v) for v in out["curve"]]
    steps = np.diff(curve)
    return CheckReport(
        env=env_name, n=n, components=comps,
        recovered_ood=float(np.mean(out["recovered"][:n])),
        recovered_normal=float(np.mean(out["recovered"][n:])),
        valid_ood=float(np.mean(out["valid"])),
        # `<= 0`, not `< 0`: a program that returns -0.0 at a recovered state with zero
        # action (e.g. `-max(0, 0.7 - h) - 0.1 * sum(a**2)`) gives the paper's sign. NaN fails.
        never_positive=bool(np.all(total <= 0)), max_reward=float(np.max(total)),
        rise_curve=curve, rising_fraction=float(np.mean(steps >= -1e-6)),
    )
