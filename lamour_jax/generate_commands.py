"""`lamour generate`: the reward-generation pipeline from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lamour_jax.commands import UserError

if TYPE_CHECKING:
    from lamour_jax.generate import GenerationResult

EXIT_FAILED = 1


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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


def cmd_generate(args: argparse.Namespace) -> int:
    from lamour_jax.generate import (
        GenerateOptions,
        GenerationError,
        LiteLLMModel,
        OfflineModel,
        ReplyCache,
        default_cache_dir,
        generate,
    )

    llm = args.llm or ("litellm" if args.model else "offline")
    if llm == "litellm" and not args.model:
        raise UserError("--llm litellm needs --model NAME (a litellm model string, e.g. "
                        "openai/gpt-4o, or openai/<name> with --api-base for a local server)")
    if llm == "offline" and (args.model or args.api_base):
        raise UserError("--llm offline uses the reference answers; drop --model/--api-base")
    out = args.out or Path("runs") / f"reward-{args.env}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (out / "transcript.json").exists():
        raise UserError(f"{out} already holds a generation run; choose another --out")
    temperature = args.temperature
    if temperature is None:
        # The paper's single sample is greedy; several samples need diversity.
        temperature = 0.0 if args.samples == 1 else 0.8
    if llm == "offline":
        model = OfflineModel(args.env)
    else:
        cache = None if args.no_cache else ReplyCache(args.cache_dir or default_cache_dir())
        model = LiteLLMModel(args.model, args.api_base, timeout=args.timeout,
                             retries=args.retries, cache=cache)
    opts = GenerateOptions(env=args.env, out=out, samples=args.samples,
                           max_repairs=args.max_repairs, temperature=temperature,
                           mode=args.mode, seed=args.seed, check=not args.no_check,
                           guard_seconds=args.guard_seconds)
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
