"""One reward-generation run: OOD image -> description -> behaviour -> K reward programs.

    describe(image, env name)             -> one or two sentences about the scene
    reason(original task, description)    -> one sentence: the recovery behaviour
    code(env doc, behaviour) x K samples  -> programs, each extracted, transpiled, and on
                                             rejection sent back with the error, R times

Everything lands in the run folder as it happens: ood.png, transcript.json, prompts.json,
candidates/*.py (accepted) and candidates/rejected/* (refused, with the reason), then
reward.py (the chosen candidate) and generation.json (the summary).
"""

from __future__ import annotations

import base64
import io
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
from PIL import Image

from lamour_jax.envs import Env, make
from lamour_jax.generate.models import ChatModel, ModelError, Reply
from lamour_jax.generate.prompts import code_example, load_prompts
from lamour_jax.generate.transcript import Transcript
from lamour_jax.transpile import RewardCodeError, RewardProgram
from lamour_jax.transpile.budget import LIMITS
from lamour_jax.transpile.guard import transpile_guarded
from lamour_jax.transpile.library import ALLOWED_BUILTINS

# Token limits of the paper's three calls; a reflection round's reply is a code reply too.
MAX_TOKENS = {"describe": 500, "reason": 500, "code": 3000, "reflect": 3000}


class GenerationError(RuntimeError):
    """The run produced no usable program; the run folder keeps what it got."""


@dataclass
class Candidate:
    sample: int
    tries: int  # 1 + repairs used; 0 for a program given instead of asked for
    path: Path
    program: RewardProgram
    check: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return bool(self.check and self.check["passed"])


@dataclass
class GenerationResult:
    out: Path
    description: str
    behaviour: str
    candidates: list[Candidate]
    chosen: Candidate
    rejected: int
    totals: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenerateOptions:
    env: str
    out: Path
    samples: int = 1
    max_repairs: int = 2
    temperature: float = 0.0
    mode: str = "paper"  # OOD sampler mode of the rendered state
    seed: int = 0
    check: bool = True  # rank candidates with the reward check (reward_check.py)
    check_states: int = 64
    width: int = 640
    height: int = 480
    guard_seconds: float = LIMITS.guard_seconds  # transpile + first compile, per reply
    physics: str | None = None  # engine that settles the rendered state and checked ones


def quoted_reply(reason: str, text: str) -> str:
    """A rejected reply as it is saved: every line a comment, so the file never runs."""
    body = "\n".join(f"# {line}" for line in text.splitlines())
    return f"# rejected: {reason}\n#\n{body}\n"


def render_ood_png(env: Env, seed: int, width: int, height: int) -> bytes:
    from lamour_jax.render import render_frames

    state = jax.jit(env.reset)(jax.random.key(seed))
    frame = render_frames(env, [np.asarray(state.data.qpos)], width, height)[0]
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    return buffer.getvalue()


def _text(content: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


class GenerationSession:
    """The state of one run, so each stage reads as a short method."""

    def __init__(self, opts: GenerateOptions, model: ChatModel,
                 log: Callable[[str], None]) -> None:
        self.opts, self.model, self.log = opts, model, log
        self.env = make(opts.env, "ood", opts.mode, bank_size=None, physics=opts.physics)
        self.prompts = load_prompts()
        self.totals = {"requests": 0, "cache_hits": 0, "prompt_tokens": 0,
                       "completion_tokens": 0, "cost_usd": None, "model_seconds": 0.0}
        opts.out.mkdir(parents=True, exist_ok=True)
        (opts.out / "candidates" / "rejected").mkdir(parents=True, exist_ok=True)
        hashes = {name: p.sha256 for name, p in self.prompts.items()}
        (opts.out / "prompts.json").write_text(json.dumps(hashes, indent=2) + "\n")
        self.transcript = Transcript(opts.out / "transcript.json", {
            "env": opts.env, "model": model.name,
            "api_base": getattr(model, "api_base", None),
            "options": {"samples": opts.samples, "max_repairs": opts.max_repairs,
                        "temperature": opts.temperature, "mode": opts.mode,
                        "seed": opts.seed},
            "prompt_sha256": hashes, "python": platform.python_version(),
        })

    def ask(self, stage: str, messages: list[dict[str, Any]], temperature: float,
            sample: int = 0, **extra: Any) -> tuple[Reply, dict[str, Any]]:
        params = {"max_tokens": MAX_TOKENS[stage], "temperature": temperature}
        try:
            reply = self.model.complete(messages, stage=stage, sample=sample, **params)
        except ModelError as err:
            self.transcript.exchange(stage=stage, model=self.model.name, params=params,
                                     messages=messages, error=str(err),
                                     attempts=err.attempts, sample=sample, **extra)
            self.transcript.finish("failed", error=str(err))
            raise GenerationError(f"{stage} stage: {err}") from err
        self._count(reply)
        entry = self.transcript.exchange(stage=stage, model=self.model.name, params=params,
                                         messages=messages, reply=reply, sample=sample,
                                         **extra)
        return reply, entry

    def _count(self, reply: Reply) -> None:
        t = self.totals
        t["requests"] += 0 if reply.cached else 1 + len(reply.attempts)
        t["cache_hits"] += int(reply.cached)
        t["prompt_tokens"] += reply.usage.get("prompt_tokens", 0)
        t["completion_tokens"] += reply.usage.get("completion_tokens", 0)
        t["model_seconds"] += reply.seconds
        if reply.cost_usd is not None:
            t["cost_usd"] = (t["cost_usd"] or 0.0) + reply.cost_usd

    def _answer(self, stage: str, reply: Reply) -> str:
        text = reply.text.strip()
        if not text:
            self.transcript.finish("failed", error=f"empty {stage} reply")
            raise GenerationError(f"{stage} stage: {self.model.name} sent an empty reply")
        return text

    # ----- the three stages
    def describe(self, png: bytes) -> str:
        url = "data:image/png;base64," + base64.b64encode(png).decode()
        prompt = self.prompts["describe"].render(env_name=self.env.robot.name)
        messages = [{"role": "user", "content": [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": url}}]}]
        reply, _ = self.ask("describe", messages, 0.0)
        return self._answer("describe", reply)

    def reason(self, description: str) -> str:
        prompt = self.prompts["reason"].render(task=self.env.robot.task,
                                               description=description)
        reply, _ = self.ask("reason", _text(prompt), 0.0)
        return self._answer("reason", reply)

    def code_sample(self, behaviour: str, sample: int) -> Candidate | None:
        messages = _text(self.prompts["code"].render(
            env_name=self.env.robot.name, behaviour=behaviour, env_doc=self.env.describe(),
            obs_dim=self.env.program_state_size, action_dim=self.env.action_size,
            example=code_example(self.env.robot.name)))
        return self.program("code", messages, sample)

    def program(self, stage: str, messages: list[dict[str, Any]], sample: int
                ) -> Candidate | None:
        """Ask `stage` for a program; send a rejected one back with the checker's message,
        up to max_repairs times. Accepted: candidates/sample{K}.py; rejected replies:
        candidates/rejected/. None when every try was rejected."""
        opts = self.opts
        for attempt in range(opts.max_repairs + 1):
            reply, entry = self.ask(stage, messages, opts.temperature, sample=sample,
                                    repair=attempt)
            try:
                program = transpile_guarded(reply.text, self.env.program_state_size,
                                            self.env.action_size, seconds=opts.guard_seconds)
            except RewardCodeError as err:
                name = f"sample{sample}-try{attempt}"
                (opts.out / "candidates" / "rejected" / f"{name}.txt").write_text(
                    quoted_reply(str(err), reply.text))
                self.transcript.annotate(entry, verdict="rejected", reason=str(err))
                self.log(f"  sample {sample}, try {attempt + 1}: rejected: {err}")
                messages = messages + [
                    {"role": "assistant", "content": reply.text},
                    {"role": "user", "content": self.prompts["repair"].render(
                        error=str(err), allowed_builtins=", ".join(sorted(ALLOWED_BUILTINS)))}]
                continue
            path = opts.out / "candidates" / f"sample{sample}.py"
            path.write_text(program.source)  # what was checked, and nothing else
            self.transcript.annotate(entry, verdict="accepted", sha256=program.sha256,
                                     file=str(path.relative_to(opts.out)))
            self.log(f"  sample {sample}, try {attempt + 1}: accepted "
                     f"(sha256 {program.sha256[:12]})")
            return Candidate(sample, attempt + 1, path, program)
        return None

    def given(self, name: str, source: str, sample: int) -> Candidate:
        """A program supplied by the user in place of a code-stage reply."""
        try:
            program = transpile_guarded(source, self.env.program_state_size,
                                        self.env.action_size, seconds=self.opts.guard_seconds)
        except RewardCodeError as err:
            self.transcript.finish("failed", error=f"{name}: {err}")
            raise GenerationError(f"{name}: rejected: {err}") from err
        path = self.opts.out / "candidates" / f"sample{sample}.py"
        path.write_text(program.source)
        self.transcript.data.setdefault("given", []).append(
            {"name": name, "file": str(path.relative_to(self.opts.out)),
             "sha256": program.sha256})
        return Candidate(sample, 0, path, program)

    def check(self, candidates: list[Candidate]) -> None:
        from dataclasses import asdict

        from lamour_jax.reward_check import check_program

        for c in candidates:
            report = check_program(c.program, self.opts.env, self.opts.check_states,
                                   self.opts.seed, self.opts.mode, self.opts.physics)
            c.check = {**asdict(report), "rises": report.rises, "passed": report.passed}
            self.log(f"  sample {c.sample}: reward check {'PASS' if report.passed else 'FAIL'}")


def generate(opts: GenerateOptions, model: ChatModel,
             log: Callable[[str], None] = print,
             given: list[tuple[str, str]] | None = None) -> GenerationResult:
    """Run the three stages and write the run folder; raises GenerationError (folder kept)
    when the model fails or never yields a program that transpiles. `given` (name, source)
    programs take the code stage's place (a search that starts from chosen programs)."""
    t0 = time.perf_counter()
    run = GenerationSession(opts, model, log)
    png = render_ood_png(run.env, opts.seed, opts.width, opts.height)
    (opts.out / "ood.png").write_bytes(png)

    log(f"[1/3] describe ({model.name}) ...")
    description = run.describe(png)
    log(f"  {description}")
    log("[2/3] reason ...")
    behaviour = run.reason(description)
    log(f"  {behaviour}")
    if given is None:
        log(f"[3/3] code: {opts.samples} sample(s), up to {opts.max_repairs} repair(s) "
            "each ...")
        candidates = [c for k in range(opts.samples)
                      if (c := run.code_sample(behaviour, k)) is not None]
    else:
        log(f"[3/3] code: {len(given)} given program(s) instead of the model's")
        candidates = [run.given(name, source, k) for k, (name, source) in enumerate(given)]
    tries = sum(1 for e in run.transcript.data["exchanges"] if e["stage"] == "code")
    rejected = tries - (len(candidates) if given is None else 0)
    if not candidates:
        message = (f"no valid reward program from {model.name}: {opts.samples} sample(s) x "
                   f"{opts.max_repairs + 1} tries were all rejected; the replies and reasons "
                   f"are in {opts.out / 'transcript.json'} and {opts.out / 'candidates/rejected'}")
        run.transcript.finish("failed", error=message, totals=run.totals)
        raise GenerationError(message)
    if opts.check:
        log("checking candidates on sampled OOD and Normal states ...")
        run.check(candidates)
    # Prefer a candidate that passes the check; among equals, the earliest sample.
    chosen = min(candidates, key=lambda c: (not c.passed, c.sample))
    (opts.out / "reward.py").write_text(chosen.path.read_text())
    run.totals["seconds"] = round(time.perf_counter() - t0, 2)
    summary = {
        "env": opts.env, "model": model.name, "description": description,
        "behaviour": behaviour, "chosen": chosen.path.name,
        "candidates": [{"file": c.path.name, "sample": c.sample, "tries": c.tries,
                        "sha256": c.program.sha256, "check": c.check} for c in candidates],
        "rejected_replies": rejected, "totals": run.totals,
    }
    (opts.out / "generation.json").write_text(json.dumps(summary, indent=2) + "\n")
    run.transcript.finish("ok", chosen=chosen.path.name, totals=run.totals)
    return GenerationResult(opts.out, description, behaviour, candidates, chosen, rejected,
                            run.totals)
