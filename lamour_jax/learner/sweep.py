"""Hyperparameter sweeps as one program: `lamour train hopper --sweep learning_rate=3e-4,1e-3`.

A sweep is a grid over PPOConfig's scalar hyperparameters (its pytree leaves). Every grid
point trains `seeds` seeds, and all of them are one batch axis of the vmapped program, the
axis `--seeds` alone uses ("members": grid point major, seed minor), so the whole grid compiles
once and trains side by side. Shape-changing fields (num_envs, network sizes, ...) are static
and cannot vary inside one program: they need separate runs.

The seed keys repeat across grid points: seed s of every point starts from the same initial
networks and env draws, so the points differ by their hyperparameters alone within a seed.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from lamour_jax.learner.config import PPOConfig

SWEEPABLE = tuple(f.name for f in dataclasses.fields(PPOConfig)
                  if f.metadata.get("pytree_node", True))
_STATIC = tuple(f.name for f in dataclasses.fields(PPOConfig) if f.name not in SWEEPABLE)


@dataclass(frozen=True)
class Sweep:
    values: dict[str, tuple[float, ...]]  # hyperparameter -> its values, in the user's order
    seeds: int  # seeds per grid point

    @classmethod
    def parse(cls, specs: list[str], seeds: int, base: PPOConfig) -> Sweep:
        """`KEY=V1,V2,...` strings (the CLI's --sweep); ValueError says what is wrong."""
        values: dict[str, tuple[float, ...]] = {}
        for spec in specs:
            key, sep, text = spec.partition("=")
            if key in _STATIC:
                raise ValueError(
                    f"--sweep {key}: {key} shapes the compiled program, so one program cannot "
                    f"vary it; train one run per value (--set {key}=...). A sweep varies the "
                    f"scalar hyperparameters: {', '.join(SWEEPABLE)}")
            if not sep or key not in SWEEPABLE:
                raise ValueError(f"--sweep {spec!r}: expected KEY=V1,V2,... with KEY one of "
                                 f"{', '.join(SWEEPABLE)}")
            if key in values:
                raise ValueError(f"--sweep {key} given twice; list all its values in one")
            try:
                numbers = tuple(float(v) for v in text.split(","))
            except ValueError:
                raise ValueError(f"--sweep {key}={text!r}: expected comma-separated numbers, "
                                 "e.g. 3e-4,1e-3") from None
            if not all(np.isfinite(numbers)):
                raise ValueError(f"--sweep {key}={text!r}: the values must be finite")
            if len(numbers) < 2 or len(set(numbers)) != len(numbers):
                raise ValueError(f"--sweep {key}={text!r}: give two or more different values "
                                 f"(one value is --set {key}=...)")
            values[key] = numbers
        sweep = cls(values, seeds)
        for point in sweep.points:  # each grid point must be a config --set would accept
            try:
                base.replace(**point).validate()
            except ValueError as err:
                raise ValueError(f"--sweep point {format_point(point)}: {err}") from None
        return sweep

    @classmethod
    def from_record(cls, record: dict[str, list[float]], seeds: int) -> Sweep:
        return cls({k: tuple(float(v) for v in vs) for k, vs in record.items()}, seeds)

    def to_record(self) -> dict[str, list[float]]:
        return {k: list(vs) for k, vs in self.values.items()}

    @property
    def points(self) -> list[dict[str, float]]:
        grid = itertools.product(*self.values.values())
        return [dict(zip(self.values, combo, strict=True)) for combo in grid]

    @property
    def size(self) -> int:
        """Members: the program's batch axis, grid points x seeds."""
        return len(self.points) * self.seeds

    def member(self, index: int) -> dict[str, float]:
        """The hyperparameters member `index` trains with."""
        return self.points[index // self.seeds]

    def member_seed(self, index: int) -> int:
        return index % self.seeds

    def keys(self, seed: int) -> jax.Array:
        """One key per member; seed s of every grid point gets the same key."""
        per_seed = jax.random.split(jax.random.key(seed), self.seeds)
        return per_seed[np.arange(self.size) % self.seeds]

    def hparams(self, base: PPOConfig) -> PPOConfig:
        """`base` with every scalar hyperparameter an array over the members: what the vmapped
        init and run_chunk take alongside the states."""
        leaves = {name: np.array([self.member(m).get(name, getattr(base, name))
                                  for m in range(self.size)], dtype=np.float32)
                  for name in SWEEPABLE}
        return base.replace(**leaves)

    def run_names(self) -> list[str]:
        """One name per member (TensorBoard runs): `learning_rate=0.001/seed_0`."""
        return [f"{format_point(self.member(m), sep=',')}/seed_{self.member_seed(m)}"
                for m in range(self.size)]


def format_point(point: dict[str, Any], sep: str = ", ") -> str:
    return sep.join(f"{k}={v:g}" for k, v in point.items())


def summary_table(sweep: Sweep, last_rows: list[dict[str, Any]]) -> str:
    """The last evaluation per grid point, best mean return first (over the seeds that did not
    diverge), as a Markdown table."""
    by_point: dict[int, list[dict[str, Any]]] = {}
    for row in last_rows:
        by_point.setdefault(row["member"] // sweep.seeds, []).append(row)
    names = list(sweep.values)
    lines = [f"| {' | '.join(names)} | seeds | return (mean ± std over seeds) | best "
             f"--member |", "|" + "---:|" * (len(names) + 3)]
    def rank(item: tuple[int, list[dict[str, Any]]]) -> float:  # diverged points last
        returns = [r["return_mean"] for r in item[1] if not r.get("diverged")]
        return -float(np.mean(returns)) if returns else np.inf

    ranked = sorted(by_point.items(), key=rank)
    for point_index, rows in ranked:
        point = sweep.points[point_index]
        cells = f"| {' | '.join(f'{point[n]:g}' for n in names)} | {len(rows)} | "
        trained = [r for r in rows if not r.get("diverged")]
        lost = f" ({len(rows) - len(trained)} diverged)" if len(trained) < len(rows) else ""
        if not trained:
            lines.append(cells + "diverged | - |")
            continue
        returns = np.array([r["return_mean"] for r in trained])
        best = trained[int(np.argmax(returns))]["member"]
        lines.append(cells + f"{returns.mean():.1f} ± {returns.std():.1f}{lost} | {best} |")
    return "\n".join(lines)
