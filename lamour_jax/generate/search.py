"""Reward search with reflection: rounds of candidate programs, each round's candidates trained
together as members of one compiled program, judged by numbers and frames, and improved by the
model in the next round (in the manner of Eureka, with frames as GROVE-style judges use).

    round 1   describe -> reason -> code x K (`generate`), or the programs given to start from
    a round   train its new candidates (candidates x seeds in one recovery program), then per
              candidate: the env's recovery rate, median steps to recover, OOD and Normal
              return, `is_recovered`'s share of steps and each reward term's mean on recorded
              evaluation episodes, and frames of the best and the worst episode
    round r+1 the best program so far, every candidate's numbers and the best one's frames ->
              K improved programs (the `reflect` prompt), each transpiled and repaired as in
              the code stage
    result    the best candidate of all rounds, by the env's recovery rate, then OOD return

Folder: options.json; rounds/NN/ (round 1 is a `generate` folder; later rounds hold
transcript.json, prompts.json, candidates/ and reflection.json) with train/ (a recovery run),
stats.json and frames/; then search.json, search.md, search.png and reward.py (the best). A
rerun with the same options continues: a round that was asked, trained or measured is not
asked, trained or measured again. A program already trained in an earlier round (same SHA-256)
is not trained again; its numbers are reused.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from lamour_jax.generate.models import ChatModel
from lamour_jax.generate.pipeline import (
    GenerateOptions,
    GenerationError,
    GenerationSession,
    generate,
)

if TYPE_CHECKING:
    from lamour_jax.envs import Env

Log = Callable[[str], None]
FRAMES_PER_EPISODE = 4
FRAME_SIZE = (320, 240)


class SearchError(RuntimeError):
    """The search cannot start or continue as asked (e.g. a rerun with other options)."""


@dataclass
class SearchOptions:
    generation: GenerateOptions  # env, the search folder (out), samples per round, model calls
    rounds: int = 3
    steps: int = 204_800  # env steps per seed of every candidate, per round
    seeds: int = 2
    policy: Path | None = None  # the original policy (a run folder); None: the shipped one
    num_envs: int | None = None
    overrides: list[str] = field(default_factory=list)  # PPO config --set
    start: list[tuple[str, str]] | None = None  # (name, source) programs to start from
    episodes: int = 8  # recorded evaluation episodes per candidate (terms, frames)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.policy is None:
            from lamour_jax.policies import shipped_policy

            self.policy = shipped_policy(self.generation.env)
            if self.policy is None:
                raise SearchError(f"no original policy ships for {self.generation.env}: "
                                  "give one (`policy=`, `--policy DIR`)")

    @property
    def out(self) -> Path:
        return self.generation.out

    def record(self) -> dict[str, Any]:
        """What decides a round's outcome: a rerun must agree on all of it but `rounds`."""
        g = self.generation
        return {"env": g.env, "samples": g.samples, "max_repairs": g.max_repairs,
                "temperature": g.temperature, "mode": g.mode, "seed": g.seed,
                "physics": g.physics, "steps": self.steps, "seeds": self.seeds,
                "policy": str(Path(self.policy).absolute()), "num_envs": self.num_envs,
                "overrides": list(self.overrides), "episodes": self.episodes,
                "start": [[name, src] for name, src in self.start] if self.start else None}


@dataclass
class SearchResult:
    out: Path
    rows: list[dict[str, Any]]  # every candidate of every round, with its numbers
    best: dict[str, Any]
    outcome: str  # "ok", "no_program" (a round's replies were all rejected) or "model_failed"
    message: str  # what happened, for a person
    totals: dict[str, Any]


def _round_dir(out: Path, r: int) -> Path:
    return out / "rounds" / f"{r:02d}"


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """By the env's own recovery rate, then the OOD return; the earliest among equals."""
    return max(rows, key=lambda row: (row["recovery_rate"], row["return_mean"]))


# ------------------------------------------------------------------------------ measuring
def term_means(program: Any, out: dict[str, np.ndarray], env: Env
               ) -> tuple[dict[str, float], float]:
    """Each reward term's mean over the recorded transitions (s', a) the episodes lived
    through, and the share of them whose s' the program's `is_recovered` passes."""
    obs, action = env.program_state(out["states"]["obs"][1:]), out["states"]["action"]
    steps = np.arange(action.shape[0])[:, None]
    alive = steps < out["length"][None, :]
    flat = lambda x: x.reshape(-1, x.shape[-1])  # noqa: E731
    terms = jax.device_get(jax.jit(jax.vmap(program.components))(flat(obs), flat(action)))
    recovered = jax.device_get(jax.jit(jax.vmap(program.is_recovered))(flat(obs)))
    mask = alive.reshape(-1)
    if not mask.any():
        return {name: 0.0 for name in terms}, 0.0
    means = {name: float(np.mean(np.asarray(v, np.float64)[mask])) for name, v in terms.items()}
    return means, float(np.mean(np.asarray(recovered)[mask]))


def episode_frames(env: Any, out: dict[str, np.ndarray], episode: int) -> np.ndarray:
    """Four moments of one recorded episode side by side: start, 1/3, 2/3, end."""
    from lamour_jax import render

    length = int(out["length"][episode])
    at = np.linspace(0, length, FRAMES_PER_EPISODE).round().astype(int)
    qpos = out["states"]["qpos"][at, episode]
    frames = render.render_frames(env, list(qpos), *FRAME_SIZE, env.robot.follow_in_videos)
    return render.grid(frames, FRAMES_PER_EPISODE)


def _last_eval_rows(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last = max(row["eval"] for row in history)
    return [row for row in history if row["eval"] == last]


def measure_round(rdir: Path, names: list[str], sources: dict[str, str], opts: SearchOptions,
                  log: Log) -> list[dict[str, Any]]:
    """Per trained candidate of a round: the training's last evaluation (over its seeds) and
    the terms and frames of recorded episodes of its first seed."""
    from lamour_jax import render
    from lamour_jax.envs import make
    from lamour_jax.learner.evaluate import episodes_of_members
    from lamour_jax.learner.policy import load
    from lamour_jax.runtime.run_dir import RunDir
    from lamour_jax.transpile import transpile

    train = rdir / "train"
    summary = json.loads((train / "summary.json").read_text())
    ranking = {row["candidate"]: row for row in summary["candidates"]}
    last = _last_eval_rows(RunDir(train).history())
    policy = load(train)
    g = opts.generation
    env = make(g.env, "ood", g.mode, episode_length=policy.meta.get("episode_length", 1000),
               physics=g.physics)
    log(f"  recording {opts.episodes} OOD episodes of each candidate's first seed ...")
    recorded = episodes_of_members(env, policy, opts.episodes, g.seed + 7,
                                   [k * opts.seeds for k in range(len(names))], record=True)
    rows = []
    (rdir / "frames").mkdir(exist_ok=True)
    for k, name in enumerate(names):
        out = jax.tree.map(lambda x, k=k: x[k], recorded)
        program = transpile(sources[name], env.program_state_size, env.action_size)
        terms, recovered_share = term_means(program, out, env)
        order = np.lexsort((out["length"], out["return"]))  # worst first
        frames = {}
        for label, episode in (("best", int(order[-1])), ("worst", int(order[0]))):
            path = rdir / "frames" / f"{Path(name).stem}-{label}.png"
            render.save_png(episode_frames(env, out, episode), path)
            frames[label] = {"file": str(path.relative_to(opts.out)),
                             "return": float(out["return"][episode]),
                             "length": int(out["length"][episode])}
        steps = [r["steps_to_recovery_median"] for r in last
                 if r["member"] // opts.seeds == k and r.get("steps_to_recovery_median")
                 is not None]
        row = ranking[name]
        rows.append({
            "file": name, "sha256": program.sha256,
            "recovery_rate": row["recovery_rate"], "return_mean": row["return_mean"],
            "normal_return_mean": row["normal_return_mean"],
            "steps_to_recovery_median": float(np.median(steps)) if steps else None,
            "is_recovered_share": recovered_share, "terms": terms, "frames": frames,
            "recorded_return_mean": float(out["return"].mean()),
            "steps": summary["steps"]})  # per seed, in whole evaluation periods
    return rows


# ------------------------------------------------------------------------------ the loop
class _Search:
    def __init__(self, opts: SearchOptions, model: ChatModel, log: Log) -> None:
        self.opts, self.model, self.log = opts, model, log
        self.rows: list[dict[str, Any]] = []
        # Summed over the rounds' records, so a continued search counts every round once.
        self.totals: dict[str, Any] = {"requests": 0, "cache_hits": 0, "prompt_tokens": 0,
                                       "completion_tokens": 0, "cost_usd": None,
                                       "model_seconds": 0.0, "train_seconds": 0.0,
                                       "measure_seconds": 0.0, "train_steps": 0}
        self.context: dict[str, str] = {}  # description, behaviour
        self.before: Path | None = None  # a round's evaluation of the original policy

    # ----- the options a rerun must share
    def check_options(self) -> None:
        path = self.opts.out / "options.json"
        mine = self.opts.record()
        if path.is_file():
            theirs = json.loads(path.read_text())
            differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            if differ:
                raise SearchError(
                    f"{self.opts.out} holds a search with other options ({', '.join(differ)}); "
                    "rerun it with the same options to continue it, or choose another --out")
        self.opts.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(mine, indent=2) + "\n")

    def _add_totals(self, totals: dict[str, Any]) -> None:
        for key in ("requests", "cache_hits", "prompt_tokens", "completion_tokens",
                    "model_seconds", "train_seconds", "measure_seconds"):
            self.totals[key] += totals.get(key, 0)
        if totals.get("cost_usd") is not None:
            self.totals["cost_usd"] = (self.totals["cost_usd"] or 0.0) + totals["cost_usd"]

    def _gen_opts(self, rdir: Path) -> GenerateOptions:
        return dataclasses.replace(self.opts.generation, out=rdir, check=False)

    # ----- asking
    def first_round(self, rdir: Path) -> list[tuple[str, str]]:
        done = rdir / "generation.json"
        if not done.is_file():
            if rdir.exists():
                shutil.rmtree(rdir)  # an interrupted generation: ask again (cached replies)
            generate(self._gen_opts(rdir), self.model, self.log, given=self.opts.start)
        summary = json.loads(done.read_text())
        self._add_totals(summary["totals"])
        self.context = {"description": summary["description"],
                        "behaviour": summary["behaviour"]}
        return [(c["file"], (rdir / "candidates" / c["file"]).read_text())
                for c in summary["candidates"]]

    def reflect_round(self, r: int, rdir: Path) -> list[tuple[str, str]]:
        done = rdir / "reflection.json"
        if done.is_file():
            record = json.loads(done.read_text())
            self._add_totals(record["totals"])
            return [(f, (rdir / "candidates" / f).read_text()) for f in record["candidates"]]
        if rdir.exists():
            shutil.rmtree(rdir)
        best = best_row(self.rows)
        run = GenerationSession(self._gen_opts(rdir), self.model, self.log)
        messages = self.reflection_messages(run, best)
        k = self.opts.generation.samples
        self.log(f"[round {r}] reflect on {best['name']}: {k} sample(s) ...")
        candidates = [c for s in range(k)
                      if (c := run.program("reflect", messages, s)) is not None]
        self._add_totals(run.totals)
        tries = sum(1 for e in run.transcript.data["exchanges"] if e["stage"] == "reflect")
        record = {"round": r, "reflected_on": best["name"],
                  "candidates": [c.path.name for c in candidates],
                  "rejected_replies": tries - len(candidates), "totals": run.totals}
        run.transcript.finish("ok" if candidates else "no program", reflected_on=best["name"])
        done.write_text(json.dumps(record, indent=2) + "\n")
        return [(c.path.name, c.path.read_text()) for c in candidates]

    def reflection_messages(self, run: GenerationSession, best: dict[str, Any]
                            ) -> list[dict[str, Any]]:
        opts, env = self.opts, run.env
        terms = ", ".join(f"{name} {value:.3g}" for name, value in best["terms"].items())
        terms += f"; is_recovered passed on {best['is_recovered_share']:.0%} of the steps"
        text = run.prompts["reflect"].render(
            env_name=env.robot.name, task=env.robot.task, env_doc=env.describe(),
            description=self.context["description"], behaviour=self.context["behaviour"],
            budget=f"{best['steps']:,} env steps x {opts.seeds} seed(s) on "
                   f"{opts.generation.physics} physics",
            table=stats_table(self.rows), best_name=best["name"],
            program=(opts.out / best["path"]).read_text(), terms=terms,
            obs_dim=env.program_state_size, action_dim=env.action_size)
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        for label in ("best", "worst"):
            png = (opts.out / best["frames"][label]["file"]).read_bytes()
            url = "data:image/png;base64," + base64.b64encode(png).decode()
            content.append({"type": "image_url", "image_url": {"url": url}})
        return [{"role": "user", "content": content}]

    # ----- training and measuring
    def train_and_measure(self, r: int, rdir: Path, programs: list[tuple[str, str]]
                          ) -> list[dict[str, Any]]:
        """Train the round's programs that no earlier round trained (one program each, by
        SHA-256) and measure them; a program trained before gets that run's numbers."""
        from lamour_jax.envs import make
        from lamour_jax.recovery import RecoverySpec, run_recovery
        from lamour_jax.runtime.checkpoint import saved_periods
        from lamour_jax.transpile import transpile

        stats_path = rdir / "stats.json"
        if stats_path.is_file():
            stats = json.loads(stats_path.read_text())
            self._add_totals(stats["seconds"])
            return stats["rows"]
        seconds = {"train_seconds": 0.0, "measure_seconds": 0.0}
        g = self.opts.generation
        env = make(g.env, "ood", g.mode, bank_size=None, physics=g.physics)
        shas = {name: transpile(src, env.program_state_size, env.action_size).sha256
                for name, src in programs}
        earlier = {row["sha256"]: row for row in self.rows if row["trained"]}
        new: dict[str, tuple[str, str]] = {}  # sha256 -> this round's first program with it
        for name, source in programs:
            if shas[name] not in earlier:
                new.setdefault(shas[name], (name, source))
        measured: dict[str, dict[str, Any]] = {}
        if new:
            spec = RecoverySpec(env=g.env, method="lamour", steps=self.opts.steps,
                                seeds=self.opts.seeds, seed=g.seed, num_envs=self.opts.num_envs,
                                mode=g.mode, overrides=self.opts.overrides, physics=g.physics)
            train = rdir / "train"
            resume = train.exists() and saved_periods(train) > 0
            if train.exists() and not resume:
                shutil.rmtree(train)  # stopped before its first checkpoint: start it again
            if not resume and self.before is not None:
                # The original's evaluation is the same in every round: measured once.
                train.mkdir(parents=True)
                shutil.copy(self.before, train / "before.json")
            self.log(f"[round {r}] training {len(new)} candidate(s) x {self.opts.seeds} "
                     f"seed(s) for {self.opts.steps:,} steps each, in one program ...")
            t0 = time.perf_counter()
            run_recovery(spec, self.opts.policy, list(new.values()), train, resume=resume,
                         progress=self.opts.progress, log=self.log)
            self.before = train / "before.json"
            t1 = time.perf_counter()
            names = [name for name, _ in new.values()]
            for row in measure_round(rdir, names, dict(new.values()), self.opts, self.log):
                measured[row["sha256"]] = {**row, "name": f"r{r:02d}/{row['file']}"}
            seconds = {"train_seconds": round(t1 - t0, 1),
                       "measure_seconds": round(time.perf_counter() - t1, 1)}
        rows = []
        for name, _ in programs:
            sha = shas[name]
            if sha in measured and measured[sha]["file"] == name:
                row = {**measured[sha], "trained": True}
            else:  # a copy of a program trained earlier (or earlier in this round)
                first = measured.get(sha) or earlier[sha]
                row = {**first, "trained": False, "same_as": first["name"]}
            row.update(round=r, file=name, name=f"r{r:02d}/{name}",
                       path=str((rdir / "candidates" / name).relative_to(self.opts.out)))
            rows.append(row)
        stats_path.write_text(json.dumps({"rows": rows, "seconds": seconds}, indent=2) + "\n")
        self._add_totals(seconds)
        return rows

    # ----- the whole search
    def run(self) -> SearchResult:
        opts = self.opts
        self.check_options()
        outcome, message = "ok", f"{opts.rounds} round(s) done"
        for r in range(1, opts.rounds + 1):
            rdir = _round_dir(opts.out, r)
            if r == 1:
                self.log(f"[round 1] describe -> reason -> code ({self.model.name}) ...")
                programs = self.first_round(rdir)
            else:
                try:
                    programs = self.reflect_round(r, rdir)
                except GenerationError as err:
                    outcome = "model_failed"
                    message = (f"stopped in round {r}: {err}; the best program so far is "
                               "kept; rerun the same command to continue")
                    break
                if not programs:
                    outcome = "no_program"
                    message = (f"stopped in round {r}: every reply was rejected (see "
                               f"{rdir / 'candidates' / 'rejected'}); the best program so far "
                               "is kept")
                    break
            self.rows += self.train_and_measure(r, rdir, programs)
            best = best_row(self.rows)
            self.log(f"[round {r}] best so far: {best['name']} (recovery "
                     f"{best['recovery_rate']:.0%}, OOD return {best['return_mean']:.1f})")
        return self.finish(outcome, message)

    def finish(self, outcome: str, message: str) -> SearchResult:
        opts = self.opts
        best = best_row(self.rows)
        (opts.out / "reward.py").write_text((opts.out / best["path"]).read_text())
        self.totals["train_steps"] = sum(
            row["steps"] * opts.seeds for row in self.rows if row["trained"])
        t = self.totals
        t["seconds"] = round(t["model_seconds"] + t["train_seconds"] + t["measure_seconds"], 1)
        summary = {"env": opts.generation.env, "model": self.model.name, "outcome": outcome,
                   "message": message, "options": opts.record(), "context": self.context,
                   "best": best, "rows": self.rows, "totals": self.totals}
        (opts.out / "search.json").write_text(json.dumps(summary, indent=2) + "\n")
        plot_rounds(self.rows, opts.out / "search.png", opts.generation.env)
        (opts.out / "search.md").write_text(report(summary))
        return SearchResult(opts.out, self.rows, best, outcome, message, self.totals)


def search(opts: SearchOptions, model: ChatModel, log: Log = print) -> SearchResult:
    """Run (or continue) a reward search; see the module docstring. Raises SearchError on a
    rerun with other options and GenerationError when round 1 yields no program."""
    return _Search(opts, model, log).run()


# ------------------------------------------------------------------------------ report
def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _num(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def stats_table(rows: list[dict[str, Any]]) -> str:
    """Every candidate's numbers, one Markdown row each (the reflection prompt's table)."""
    lines = ["| candidate | recovery | steps to recover | OOD return | Normal return | "
             "is_recovered share | reward terms (mean) |", "|---|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        terms = ", ".join(f"{k} {v:.3g}" for k, v in row["terms"].items())
        same = f" (= {row['same_as']})" if row.get("same_as") else ""
        lines.append(
            f"| {row['name']}{same} | {_pct(row['recovery_rate'])} | "
            f"{_num(row['steps_to_recovery_median'], 0)} | {_num(row['return_mean'])} | "
            f"{_num(row['normal_return_mean'])} | {_pct(row['is_recovered_share'])} | {terms} |")
    return "\n".join(lines)


def report(summary: dict[str, Any]) -> str:
    o, t, best = summary["options"], summary["totals"], summary["best"]
    rounds = sorted({row["round"] for row in summary["rows"]})
    cost = "unknown" if t["cost_usd"] is None else f"${t['cost_usd']:.4f}"
    lines = [
        f"# Reward search: {summary['env']}, {len(rounds)} round(s), {summary['model']}", "",
        f"Per round: up to {o['samples']} program(s), each trained for "
        f"{summary['best']['steps']:,} env steps x {o['seeds']} seed(s) (`--steps "
        f"{o['steps']:,}` in whole evaluation periods) on {o['physics']} physics ({o['mode']} "
        "OOD starts), all of a "
        f"round's new programs in one compiled program. Training: {t['train_steps']:,} env "
        f"steps in all; {t['seconds']:.0f} s ({t['train_seconds']:.0f} s training, "
        f"{t['measure_seconds']:.0f} s measuring, {t['model_seconds']:.0f} s waiting for the "
        f"model); {t['requests']} model call(s), "
        f"{t['cache_hits']} cache hit(s), {t['prompt_tokens'] + t['completion_tokens']} "
        f"tokens, cost {cost}. Outcome: {summary['message']}.", "",
        f"**Best: {best['name']}** (copied to `reward.py`): recovery "
        f"{_pct(best['recovery_rate'])}, OOD return {_num(best['return_mean'])}, Normal "
        f"return {_num(best['normal_return_mean'])}; chosen by the env's own recovery rate, "
        "then OOD return, over every round.", "",
        "Recovery, OOD and Normal return: the training's last evaluation, mean over seeds. "
        "is_recovered share and reward terms: recorded OOD episodes of the first seed.", "",
        "![best per round](search.png)", ""]
    if summary["context"]:
        lines += [f"Description: {summary['context']['description']}", "",
                  f"Behaviour: {summary['context']['behaviour']}", ""]
    for r in rounds:
        rows = [row for row in summary["rows"] if row["round"] == r]
        lines += [f"## Round {r}", "", stats_table(rows), ""]
        for row in rows:
            if row.get("trained"):
                f = row["frames"]
                lines.append(f"{row['name']}: best episode (return {f['best']['return']:.1f}) "
                             f"![best]({f['best']['file']}), worst (return "
                             f"{f['worst']['return']:.1f}) ![worst]({f['worst']['file']})")
        lines.append("")
    return "\n".join(lines)


def plot_rounds(rows: list[dict[str, Any]], path: Path, env: str) -> None:
    """Recovery rate and OOD return per round: each round's best and the best so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = sorted({row["round"] for row in rows})
    round_best = [best_row([x for x in rows if x["round"] == r]) for r in rounds]
    so_far = [best_row([x for x in rows if x["round"] <= r]) for r in rounds]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key, label in ((axes[0], "recovery_rate", "recovery rate (env's test)"),
                           (axes[1], "return_mean", "OOD return")):
        ax.plot(rounds, [x[key] for x in so_far], "-", color="C0", label="best so far")
        for r in rounds:
            ys = [x[key] for x in rows if x["round"] == r]
            ax.plot([r] * len(ys), ys, "o", color="C1", alpha=0.4,
                    label="candidates" if r == rounds[0] else None)
        ax.plot(rounds, [x[key] for x in round_best], "s", color="C3", label="round's best")
        ax.set_xlabel("round")
        ax.set_ylabel(label)
        ax.set_xticks(rounds)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(-0.05, 1.05)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{env}: reward search")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
