"""The run folder: where each file of a run lives and the one record that says what it is.

    DIR/config.json     the run record: its kind (train, recovery, compare), env, PPO config
                        and the kind's own fields; enough to rebuild the program on --resume
    DIR/checkpoints/    the full TrainState after each evaluation period (orbax)
    DIR/metrics.jsonl   one row per evaluation period and member
    DIR/policy/ + DIR/policy.json   the latest good policy alone (checkpoint.save_policy)

Every command reads and writes runs through `RunDir`, so the names and the rules (a fresh run
may not start over an old one; a record is written whole or not at all) live here once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamour_jax.learner.config import PPOConfig

KINDS = ("train", "recovery", "compare")


class NotARun(ValueError):
    """A folder without a run record where one was expected."""


@dataclass
class RunRecord:
    """What a run is. `fields` holds the kind's own entries (train: variant, seeds, seed,
    devices, sweep, init_policy; recovery: the RecoverySpec's fields, lambda, c, policy,
    candidates, reward_sha256, devices); `ppo` is None for a comparison, whose methods are
    runs of their own."""

    kind: str
    env: str
    ppo: PPOConfig | None
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    def to_json(self) -> str:
        out = {"kind": self.kind, "env": self.env, **self.fields}
        if self.ppo is not None:
            out["ppo"] = dataclasses.asdict(self.ppo)
        return json.dumps(out, indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise TypeError("not a JSON object")
        kind = raw.pop("kind", "train")  # records written before kinds were recorded
        if kind not in KINDS:
            raise ValueError(f"unknown run kind {kind!r}")
        env = raw.pop("env")
        ppo = raw.pop("ppo", None)
        if ppo is None and kind != "compare":
            raise KeyError("ppo")
        config = None if ppo is None else PPOConfig.from_json(json.dumps(ppo))
        return cls(kind, env, config, raw)


class RunDir:
    """One run folder (it need not exist yet)."""

    RECORD = "config.json"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    @property
    def record_file(self) -> Path:
        return self.path / self.RECORD

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    def history(self) -> list[dict[str, Any]]:
        """The metrics.jsonl rows, oldest first (complete after a resume: the run keeps the
        rows up to the checkpoint it resumed from). Rows written before the member index was
        named `member` carry it as `seed`; they are read as `member`."""
        if not self.metrics.is_file():
            return []
        rows = [json.loads(line) for line in self.metrics.read_text().splitlines() if line]
        for row in rows:
            if "member" not in row and "seed" in row:
                row["member"] = row.pop("seed")
        return rows

    def has_record(self) -> bool:
        return self.record_file.is_file()

    def trains(self) -> bool:
        """Whether the folder's record describes a training program (a train or recovery run,
        damaged or not), as against a comparison or no run at all."""
        try:
            raw = json.loads(self.record_file.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(raw, dict) and "ppo" in raw

    def has_checkpoints(self) -> bool:
        return self.checkpoints.is_dir() and any(self.checkpoints.iterdir())

    def require_fresh(self) -> None:
        """ValueError when a run has already saved checkpoints here: a new run must not start
        over it."""
        if self.has_checkpoints():
            raise ValueError(f"{self.path} already holds a run; continue it with --resume "
                             f"{self.path} or choose another --out")

    def read(self, kind: str | None = None) -> RunRecord:
        """The run record; NotARun when there is none (or it is of another `kind`),
        ValueError naming the damage when it cannot be read."""
        if not self.has_record():
            what = "a run directory" if kind in (None, "train") else f"a {kind} run"
            raise NotARun(f"{self.path} is not {what} (no {self.RECORD})")
        try:
            record = RunRecord.from_json(self.record_file.read_text())
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{self.record_file} is damaged ({type(err).__name__}: {err}); it "
                             "records how the run was trained, so the run cannot be resumed "
                             "without it") from None
        if kind is not None and record.kind != kind:
            raise NotARun(f"{self.path} is not a {kind} run (it is a {record.kind} run)")
        return record

    def write(self, record: RunRecord) -> None:
        """Written whole or not at all: in a multi-process resume process 0 rewrites it while
        the others read it, and a half-written record would stop them."""
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.record_file.with_name(self.RECORD + ".tmp")
        tmp.write_text(record.to_json())
        tmp.replace(self.record_file)

    @contextlib.contextmanager
    def record_kept_on_failure(self, failure: type[BaseException] | tuple) -> Iterator[None]:
        """A resume that raises `failure` (a checkpoint it cannot restore) leaves the record
        as it found it, whatever the run wrote into it meanwhile."""
        before = self.record_file.read_text() if self.has_record() else None
        try:
            yield
        except failure:
            if before is not None:
                self.record_file.write_text(before)
            raise

    def hold(self) -> contextlib.AbstractContextManager[None]:
        """This process's exclusive hold on the folder (RunDirInUse if another has it)."""
        from lamour_jax.runtime.lock import hold_run_dir

        return hold_run_dir(self.path)
