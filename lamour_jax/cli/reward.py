"""Reward programs: `reward check`, `generate`, and `search` (generation with rounds of
training and reflection)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lamour_jax.cli import args as a
from lamour_jax.cli.errors import EXIT_FAILED, UserError
from lamour_jax.envs import ENV_NAMES

if TYPE_CHECKING:
    from lamour_jax.generate import GenerateOptions, GenerationResult
    from lamour_jax.generate.models import ChatModel


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reward", help="reward programs: check one (transpile + evaluate)")
    reward_sub = p.add_subparsers(dest="reward_command", required=True, metavar="ACTION")
    q = reward_sub.add_parser(
        "check", help="transpile a reward program and evaluate it on sampled OOD and Normal "
                      "states: component ranges, recovered fractions, sign, monotonicity")
    q.add_argument("file", type=Path, help="the program (.py, or a model reply with fences)")
    q.add_argument("--env", choices=ENV_NAMES, required=True, metavar="ENV",
                   help=f"environment: {', '.join(ENV_NAMES)}")
    a.mode(q)
    q.add_argument("--n", type=a.positive, default=64, help="states per set (default 64)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--json", action="store_true", help="print the report as JSON")
    a.guard(q)
    a.physics(q)
    q.set_defaults(handler=cmd_reward_check)

    p = sub.add_parser(
        "generate", help="write a recovery reward program: render the OOD state, then "
                         "describe -> reason -> code through a language model (or offline)")
    a.env(p)
    _model_options(p)
    p.add_argument("--no-check", action="store_true",
                   help="skip the reward check that ranks the candidates")
    a.guard(p)
    a.mode(p)
    a.physics(p)
    p.add_argument("--seed", type=int, default=0, help="which OOD state to render (default 0)")
    p.add_argument("--out", type=Path, help="run folder (default: runs/reward-ENV-TIMESTAMP)")
    p.set_defaults(handler=cmd_generate)

    p = sub.add_parser(
        "search", help="search for a recovery reward in rounds: generate K programs, train "
                       "them together, show the model their numbers and frames, ask for K "
                       "better ones; keep the best of all rounds")
    a.env(p)
    _model_options(p, samples=2)
    p.add_argument("--rounds", type=a.positive, default=3,
                   help="rounds, the first included (default 3); a rerun with more continues")
    p.add_argument("--steps", type=a.positive, default=204_800,
                   help="env steps per seed for each candidate in each round (default 204,800)")
    p.add_argument("--seeds", type=a.positive, default=2,
                   help="seeds per candidate (default 2)")
    p.add_argument("--start", type=Path, metavar="FILE|RUNDIR",
                   help="round 1 trains these programs (a .py file or a `lamour generate` "
                        "folder) instead of asking the code stage")
    p.add_argument("--policy", type=Path, metavar="DIR",
                   help="the original policy (default: the one shipped for ENV)")
    p.add_argument("--num-envs", type=a.positive, help="parallel envs (default: per env)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a PPO config field of the training (repeatable)")
    p.add_argument("--episodes", type=a.positive, default=8,
                   help="recorded OOD episodes per candidate for its reward terms and frames "
                        "(default 8)")
    a.guard(p)
    a.mode(p)
    a.physics(p)
    a.no_progress(p)
    p.add_argument("--seed", type=int, default=0,
                   help="base seed: the rendered OOD state and the training seeds (default 0)")
    p.add_argument("--out", type=Path, help="search folder (default: runs/search-ENV-TIMESTAMP); "
                                            "a rerun with the same options continues it")
    p.set_defaults(handler=cmd_search)


def _model_options(p: argparse.ArgumentParser, samples: int = 1) -> None:
    """The language model and how it is asked (generate and search)."""
    p.add_argument("--model", metavar="NAME",
                   help="litellm model string, e.g. openai/gpt-4o, anthropic/claude-sonnet-4-5, "
                        "or openai/<name> with --api-base for an OpenAI-compatible server")
    p.add_argument("--api-base", metavar="URL", help="server URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--llm", choices=("litellm", "offline"),
                   help="'offline' replays this project's reference answers and programs "
                        "(no network). Default: litellm when --model is given, else offline")
    p.add_argument("--samples", type=a.positive, default=samples, metavar="K",
                   help=f"code samples per run (per round of a search; default {samples}); "
                        "each valid one is a candidate")
    p.add_argument("--max-repairs", type=a.non_negative, default=2, metavar="R",
                   help="times a rejected program goes back with the error (default 2)")
    p.add_argument("--temperature", type=float, metavar="T",
                   help="code-stage temperature (default 0 for one sample, 0.8 for several)")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="seconds per request (default 120)")
    p.add_argument("--retries", type=a.non_negative, default=4,
                   help="retries on transient errors: 5xx, rate limit, timeout (default 4)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the reply cache")
    p.add_argument("--cache-dir", type=Path,
                   help="reply cache (default $LAMOUR_LLM_CACHE or ~/.cache/lamour-jax/llm)")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_reward_check(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from lamour_jax.envs import make
    from lamour_jax.reward_check import check_program
    from lamour_jax.transpile import RewardCodeError
    from lamour_jax.transpile.guard import transpile_guarded

    if not args.file.is_file():
        raise UserError(f"no such file: {args.file}")
    physics = a.chosen_physics(args)
    env = make(args.env, physics=physics)
    try:
        program = transpile_guarded(args.file.read_bytes(), env.program_state_size,
                                    env.action_size, seconds=args.guard_seconds)
    except RewardCodeError as err:
        print(f"{args.file}: rejected: {err}", file=sys.stderr)
        return EXIT_FAILED
    _log(f"{args.file}: transpiled (sha256 {program.sha256[:12]}); evaluating on "
         f"{args.n} OOD ({args.mode}) and {args.n} Normal states ...")
    report = check_program(program, args.env, args.n, args.seed, args.mode, physics)
    if args.json:
        print(json.dumps({**asdict(report), "rises": report.rises, "passed": report.passed},
                         indent=2))
    else:
        print(report.table())
    return 0 if report.passed else EXIT_FAILED


def _candidate_table(result: GenerationResult) -> str:
    lines = ["| candidate | tries | sha256 | reward check | recovered OOD / Normal |",
             "|---|---:|---|---|---|"]
    for c in result.candidates:
        if c.check is None:
            check, rec = "not run", "-"
        else:
            check = "PASS" if c.passed else "FAIL"
            rec = f"{c.check['recovered_ood']:.0%} / {c.check['recovered_normal']:.0%}"
        mark = " (chosen)" if c is result.chosen else ""
        lines.append(f"| {c.path.name}{mark} | {c.tries} | {c.program.sha256[:12]} | {check} "
                     f"| {rec} |")
    return "\n".join(lines)


def _chat_model(args: argparse.Namespace) -> ChatModel:
    from lamour_jax.generate import LiteLLMModel, OfflineModel, ReplyCache, default_cache_dir

    llm = args.llm or ("litellm" if args.model else "offline")
    if llm == "litellm" and not args.model:
        raise UserError("--llm litellm needs --model NAME (a litellm model string, e.g. "
                        "openai/gpt-4o, or openai/<name> with --api-base for a local server)")
    if llm == "offline" and (args.model or args.api_base):
        raise UserError("--llm offline uses the reference answers; drop --model/--api-base")
    if llm == "offline":
        return OfflineModel(args.env)
    cache = None if args.no_cache else ReplyCache(args.cache_dir or default_cache_dir())
    return LiteLLMModel(args.model, args.api_base, timeout=args.timeout,
                        retries=args.retries, cache=cache)


def _generate_options(args: argparse.Namespace, out: Path, check: bool) -> GenerateOptions:
    from lamour_jax.generate import GenerateOptions

    temperature = args.temperature
    if temperature is None:
        # The paper's single sample is greedy; several samples need diversity.
        temperature = 0.0 if args.samples == 1 else 0.8
    return GenerateOptions(env=args.env, out=out, samples=args.samples,
                           max_repairs=args.max_repairs, temperature=temperature,
                           mode=args.mode, seed=args.seed, check=check,
                           guard_seconds=args.guard_seconds, physics=a.chosen_physics(args))


def cmd_generate(args: argparse.Namespace) -> int:
    from lamour_jax.generate import GenerationError, generate

    out = args.out or Path("runs") / f"reward-{args.env}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (out / "transcript.json").exists():
        raise UserError(f"{out} already holds a generation run; choose another --out")
    model = _chat_model(args)
    opts = _generate_options(args, out, check=not args.no_check)
    _log(f"generating a recovery reward for {args.env} with {model.name} -> {out}")
    try:
        result = generate(opts, model, log=_log)
    except GenerationError as err:
        print(f"lamour generate: error: {err}\nthe run folder keeps what was received: {out}",
              file=sys.stderr)
        return EXIT_FAILED
    t = result.totals
    cost = "unknown" if t["cost_usd"] is None else f"${t['cost_usd']:.4f}"
    print(f"description: {result.description}\nbehaviour:   {result.behaviour}\n")
    print(_candidate_table(result))
    print(f"\n{len(result.candidates)} candidate(s), {result.rejected} rejected repl(ies); "
          f"{t['requests']} model call(s), {t['cache_hits']} cache hit(s), "
          f"{t['prompt_tokens'] + t['completion_tokens']} tokens, cost {cost}, "
          f"{t['seconds']:.1f} s")
    print(f"reward program: {out / 'reward.py'}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from lamour_jax.cli.recover import _policy_dir
    from lamour_jax.generate import GenerationError
    from lamour_jax.generate.search import SearchError, SearchOptions, search, stats_table
    from lamour_jax.recovery import reward_sources
    from lamour_jax.runtime.checkpoint import CheckpointError
    from lamour_jax.runtime.lock import RunDirInUse
    from lamour_jax.transpile import RewardCodeError

    out = args.out or Path("runs") / f"search-{args.env}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        start = None if args.start is None else reward_sources(args.start)
    except ValueError as err:
        raise UserError(f"--start {err}") from None
    opts = SearchOptions(
        generation=_generate_options(args, out, check=False), rounds=args.rounds,
        steps=args.steps, seeds=args.seeds, policy=_policy_dir(args, ["lamour"]),
        num_envs=args.num_envs, overrides=args.set or [], start=start,
        episodes=args.episodes, progress=not args.no_progress)
    model = _chat_model(args)
    _log(f"searching for a recovery reward for {args.env} with {model.name}: {args.rounds} "
         f"round(s) of {args.samples} program(s) -> {out}")
    try:
        result = search(opts, model, log=_log)
    except (SearchError, ValueError, CheckpointError, RunDirInUse, RewardCodeError) as err:
        raise UserError(str(err)) from None
    except GenerationError as err:
        print(f"lamour search: error: {err}\nthe folder keeps what was received: {out}",
              file=sys.stderr)
        return EXIT_FAILED
    print(stats_table(result.rows))
    best, t = result.best, result.totals
    print(f"\nbest: {best['name']} (recovery {best['recovery_rate']:.0%}, OOD return "
          f"{best['return_mean']:.1f}); {t['train_steps']:,} training steps, "
          f"{t['requests']} model call(s), {t['seconds']:.0f} s")
    print(f"reward program: {out / 'reward.py'}\nreport: {out / 'search.md'}")
    if result.outcome != "ok":
        print(f"lamour search: {result.message}", file=sys.stderr)
    # A model that writes no usable program ends the search with its best; a model that
    # could not be reached leaves rounds to do.
    return EXIT_FAILED if result.outcome == "model_failed" else 0
