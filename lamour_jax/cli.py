"""`lamour` command line. Each subcommand is a thin shell over a library function."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from lamour_jax.envs import ALL_ENV_NAMES, ENV_NAMES, MODES
from lamour_jax.interrupt import Terminated, stop_on_sigterm
from lamour_jax.xla_runtime import available_cores

EXIT_USAGE = 2
DEMO_STEPS = 614_400  # sized so `make demo` fits in 15 minutes on a 2-core CPU


def _env_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("env", choices=ENV_NAMES, metavar="ENV",
                   help=f"environment: {', '.join(ENV_NAMES)}")


def _mode_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=MODES, default="paper",
                   help="OOD sampler: 'paper' (the paper's pose + noise) or 'diverse' "
                        "(random fallen states settled by passive simulation). Default: paper")


def _tensorboard_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tensorboard", action="store_true",
                   help="also write the metrics as TensorBoard event files under "
                        "DIR/tensorboard/ (one run per seed; a resume keeps writing them)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _policy_index(text: str) -> int | str:
    if text == "all":
        return text
    try:
        return _non_negative(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an index >= 0 or 'all', got {text!r}"
                                         ) from None


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _guard_arg(p: argparse.ArgumentParser) -> None:
    from lamour_jax.transpile.budget import LIMITS

    p.add_argument("--guard-seconds", type=_seconds, default=LIMITS.guard_seconds,
                   metavar="S", help="wall-clock limit for transpiling and first compiling a "
                   f"program, in a child process (default {LIMITS.guard_seconds:g}; memory "
                   f"limit {LIMITS.guard_memory_bytes / 2**30:g} GiB)")


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _cpu_devices(text: str) -> int:
    if text == "auto":
        return available_cores()
    try:
        return _positive(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count >= 1 or 'auto', got {text!r}") from None


def _cpu_devices_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cpu-devices", type=_cpu_devices, metavar="N|auto",
                   help="on the CPU backend, split the CPU into N JAX devices and shard the env "
                        "batch over them ('auto': one per core); about 1.6x faster training on "
                        "2 cores. Default 1 (JAX's), what the shipped results were measured "
                        "on; other counts train along another float path. No effect on a GPU")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lamour",
        description="LaMOuR on MuJoCo-MJX: recover RL policies from out-of-distribution states.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("envs", help="list the environments with their sizes and timing")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("describe", help="print the LLM-facing description of an env's "
                                        "state and action vectors (Markdown)")
    _env_arg(p)

    p = sub.add_parser("sample", help="sample OOD (or Normal) start states to an .npz file")
    _env_arg(p)
    _mode_arg(p)
    p.add_argument("--normal", action="store_true",
                   help="sample Normal-env starts instead of OOD states")
    p.add_argument("--n", type=_positive, default=16, help="number of states (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="output .npz: qpos, qvel, obs, valid")

    p = sub.add_parser("render", help="render a start state (PNG) or a random-action "
                                      "rollout (GIF) from the env's fixed camera")
    _env_arg(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--ood", dest="variant", action="store_const", const="ood",
                       help="an OOD start state (default)")
    group.add_argument("--normal", dest="variant", action="store_const", const="normal",
                       help="a Normal start state")
    p.set_defaults(variant="ood")
    _mode_arg(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--settle", type=float, default=0.0, metavar="SECONDS",
                   help="simulate passively (zero action) this long before the picture")
    p.add_argument("--steps", type=_non_negative, default=0,
                   help="render a GIF of this many random-action steps instead of a PNG")
    p.add_argument("--width", type=_positive, default=640)
    p.add_argument("--height", type=_positive, default=480)
    p.add_argument("--out", type=Path, required=True, help="output .png (or .gif with --steps)")

    p = sub.add_parser("reward", help="reward programs: check one (transpile + evaluate)")
    reward_sub = p.add_subparsers(dest="reward_command", required=True, metavar="ACTION")
    q = reward_sub.add_parser(
        "check", help="transpile a reward program and evaluate it on sampled OOD and Normal "
                      "states: component ranges, recovered fractions, sign, monotonicity")
    q.add_argument("file", type=Path, help="the program (.py, or a model reply with fences)")
    q.add_argument("--env", choices=ENV_NAMES, required=True, metavar="ENV",
                   help=f"environment: {', '.join(ENV_NAMES)}")
    _mode_arg(q)
    q.add_argument("--n", type=_positive, default=64, help="states per set (default 64)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--json", action="store_true", help="print the report as JSON")
    _guard_arg(q)

    p = sub.add_parser(
        "generate", help="write a recovery reward program: render the OOD state, then "
                         "describe -> reason -> code through a language model (or offline)")
    _env_arg(p)
    p.add_argument("--model", metavar="NAME",
                   help="litellm model string, e.g. openai/gpt-4o, anthropic/claude-sonnet-4-5, "
                        "or openai/<name> with --api-base for an OpenAI-compatible server")
    p.add_argument("--api-base", metavar="URL", help="server URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--llm", choices=("litellm", "offline"),
                   help="'offline' replays this project's reference answers and programs "
                        "(no network). Default: litellm when --model is given, else offline")
    p.add_argument("--samples", type=_positive, default=1, metavar="K",
                   help="code samples per run (default 1); each valid one is a candidate")
    p.add_argument("--max-repairs", type=_non_negative, default=2, metavar="R",
                   help="times a rejected program goes back with the error (default 2)")
    p.add_argument("--temperature", type=float, metavar="T",
                   help="code-stage temperature (default 0 for one sample, 0.8 for several)")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="seconds per request (default 120)")
    p.add_argument("--retries", type=_non_negative, default=4,
                   help="retries on transient errors: 5xx, rate limit, timeout (default 4)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the reply cache")
    p.add_argument("--cache-dir", type=Path,
                   help="reply cache (default $LAMOUR_LLM_CACHE or ~/.cache/lamour-jax/llm)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the reward check that ranks the candidates")
    _guard_arg(p)
    _mode_arg(p)
    p.add_argument("--seed", type=int, default=0, help="which OOD state to render (default 0)")
    p.add_argument("--out", type=Path, help="run folder (default: runs/reward-ENV-TIMESTAMP)")

    p = sub.add_parser("train", help="train a policy with PPO (checkpointed, resumable)")
    p.add_argument("env", choices=ALL_ENV_NAMES, metavar="ENV",
                   help=f"environment: {', '.join(ALL_ENV_NAMES)}")
    p.add_argument("--variant", choices=("normal", "ood"), default="normal",
                   help="train on the Normal env (default) or the OOD env")
    p.add_argument("--steps", type=_positive, help="total env steps (default: per-env config)")
    p.add_argument("--num-envs", type=_positive, help="parallel envs (default: per-env config)")
    p.add_argument("--seeds", type=_positive, default=1, help="seeds trained in one program")
    p.add_argument("--seed", type=int, default=0, help="base random seed")
    p.add_argument("--out", type=Path, help="run directory (default: runs/ENV-TIMESTAMP)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config field, e.g. --set learning_rate=1e-3 "
                        "--set policy_hidden=128,128 (repeatable)")
    p.add_argument("--init-policy", type=Path, metavar="DIR",
                   help="start every seed's actor from the policy in DIR (a run or a shipped "
                        "original: its architecture and observation statistics) with a fresh "
                        "critic, which learns alone for its first critic_warmup_steps (default "
                        "51,200 here); e.g. to train an original further")
    p.add_argument("--init-policy-index", type=_non_negative, default=0, metavar="I",
                   help="which policy of a multi-seed or sweep DIR (default 0)")
    p.add_argument("--sweep", action="append", metavar="KEY=V1,V2,...",
                   help="train every value of a scalar hyperparameter side by side in one "
                        "program, --seeds seeds each, e.g. --sweep learning_rate=3e-4,1e-3 "
                        "(repeatable: the grid of all combinations)")
    p.add_argument("--resume", type=Path, metavar="DIR",
                   help="continue the run in DIR exactly from its latest checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _tensorboard_arg(p)
    _cpu_devices_arg(p)
    multi = p.add_argument_group(
        "several processes/hosts (jax.distributed): every process runs the same command")
    multi.add_argument("--distributed", action="store_true",
                       help="join a multi-process run; alone, JAX detects the cluster "
                            "(SLURM, Open MPI, Cloud TPU)")
    multi.add_argument("--coordinator", metavar="HOST:PORT",
                       help="process 0's address (implies --distributed)")
    multi.add_argument("--num-processes", type=_positive, metavar="N")
    multi.add_argument("--process-id", type=_non_negative, metavar="I")

    p = sub.add_parser("evaluate", help="evaluate a trained policy: return, length, video")
    p.add_argument("run_dir", type=Path, metavar="DIR", help="a `lamour train` run directory")
    p.add_argument("--env", choices=ALL_ENV_NAMES, metavar="ENV",
                   help="must match the policy's env (default: the policy's)")
    p.add_argument("--variant", choices=("normal", "ood"),
                   help="evaluate on the Normal or OOD env (default: what it trained on)")
    _mode_arg(p)
    p.add_argument("--episodes", type=_positive, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seed-index", type=_policy_index, default=0, metavar="I|all",
                   help="which policy of a multi-seed or sweep run (default 0); 'all': each "
                        "of them on the same episodes, a row each and their mean ± std")
    p.add_argument("--video", type=Path,
                   help="write a GIF of the first evaluated episode here (one the table counts)")
    p.add_argument("--video-stride", type=_positive, default=2,
                   help="render every k-th step in the video (default 2)")

    def recovery_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("env", choices=ALL_ENV_NAMES, metavar="ENV",
                       help=f"environment: {', '.join(ALL_ENV_NAMES)}")
        p.add_argument("--policy", type=Path, metavar="DIR",
                       help="the original policy: a `lamour train` run directory (default: "
                            "the one shipped for ENV, if any)")
        p.add_argument("--policy-index", type=int, default=0, metavar="I",
                       help="which of the --policy run's policies to retrain when it has "
                            "several (its seeds, or a sweep's members: the index `lamour "
                            "train` ranks them by); default 0")
        p.add_argument("--reward", type=Path, metavar="FILE|RUNDIR",
                       help="reward program(s) for lamour: a .py file or a `lamour generate` "
                            "folder (all its candidates train together). Default: the env's "
                            "offline reference program")
        p.add_argument("--steps", type=_positive,
                       help="env steps per seed (default 1,000,000); with --resume, or "
                            "a compare rerun, a run that has fewer continues to this many")
        p.add_argument("--num-envs", type=_positive, help="parallel envs (default: per env)")
        p.add_argument("--seeds", type=_positive, default=1, help="seeds, one program")
        p.add_argument("--seed", type=int, default=0, help="base random seed")
        p.add_argument("--switch", choices=("valid", "is_recovered"), default="valid",
                       help="when the recovery reward applies: while the env's reward is 0 "
                            "(its validity test; the released code) or while is_recovered(s') "
                            "is 0 (the paper's reading). Default: valid")
        p.add_argument("--lam", type=float, metavar="λ",
                       help="recovery-reward weight (default: the paper's per-env value)")
        p.add_argument("--c", type=float, help="consolidation weight (default: per env)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a PPO config field (repeatable)")
        _mode_arg(p)
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        _tensorboard_arg(p)
        _cpu_devices_arg(p)

    p = sub.add_parser("recover", help="retrain an original policy to recover from OOD states "
                                       "(lamour, or a baseline: zero, env, sero)")
    recovery_args(p)
    p.add_argument("--method", choices=("lamour", "zero", "env", "sero"), default="lamour")
    p.add_argument("--out", type=Path, help="run folder (default: runs/recover-ENV-METHOD-TIME)")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR")
    p.add_argument("--video", action="store_true",
                   help="write before.gif and after.gif (and peak.gif when the best evaluation "
                        "was not the last) from the same OOD start")

    p = sub.add_parser("compare", help="recovery methods at equal budgets: table + plot")
    recovery_args(p)
    p.add_argument("--methods", default="lamour,zero,env",
                   help="comma-separated (default lamour,zero,env; add sero with a dropout "
                        "original)")
    p.add_argument("--out", type=Path, help="folder (default: runs/compare-ENV-TIME); a "
                                            "rerun reuses finished methods")

    p = sub.add_parser("demo", help="the main job end to end on a CPU: generate a reward "
                                    "(offline), retrain the shipped original policy with "
                                    "LaMOuR, print the before/after table")
    p.add_argument("--env", default="hopper", choices=("hopper",),
                   help="an env with a shipped original policy (default hopper)")
    p.add_argument("--steps", type=_positive, default=DEMO_STEPS,
                   help=f"retraining env steps (default {DEMO_STEPS:,})")
    p.add_argument("--out", type=Path, default=Path("out/demo"))
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a PPO config field of the retraining (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-video", action="store_true", help="skip the before/after GIFs")
    _cpu_devices_arg(p)

    p = sub.add_parser("runs", help="the run folders under a directory: what each trains, "
                                    "how far it got, running / finished / stopped")
    p.add_argument("root", type=Path, nargs="?", default=Path("runs"), metavar="DIR",
                   help="where to look, subfolders included (default: runs)")
    p.add_argument("--json", action="store_true", help="print the states as JSON")

    p = sub.add_parser("tour", help="a look at every env: sample and render OOD states, "
                                    "random-policy recovery, one summary table")
    p.add_argument("--out", type=Path, default=Path("out/tour"))
    p.add_argument("--n", type=_positive, default=8, help="OOD states per env and mode")
    p.add_argument("--envs", default=",".join(ENV_NAMES),
                   help="comma-separated subset of envs (default: all)")
    return parser


def _check_environment() -> None:
    """Settings read from the environment, checked before any work starts."""
    from lamour_jax.commands import UserError
    from lamour_jax.learner.stall import timeout_from_env

    try:
        timeout_from_env()
    except ValueError as err:
        raise UserError(str(err)) from None


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()
    parser = build_parser()
    args = parser.parse_args(argv)
    from lamour_jax import commands, xla_cache, xla_runtime  # heavy imports only after parsing

    cpu_devices = getattr(args, "cpu_devices", None)
    if cpu_devices is not None:
        try:
            xla_runtime.use_cpu_devices(cpu_devices)
        except RuntimeError:  # only in-process callers that ran jax already reach this
            print(f"lamour {args.command}: error: --cpu-devices must be set before JAX starts; "
                  "this process has run JAX already", file=sys.stderr)
            return EXIT_USAGE
    xla_cache.enable()

    if args.command in ("train", "evaluate"):
        from lamour_jax import train_commands as module
    elif args.command == "generate":
        from lamour_jax import generate_commands as module
    elif args.command in ("recover", "compare"):
        from lamour_jax import recover_commands as module
    else:
        module = commands
    try:
        _check_environment()
        return int(getattr(module, f"cmd_{args.command}")(args) or 0)
    except commands.UserError as err:
        print(f"lamour {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        print(f"lamour {args.command}: terminated (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"lamour {args.command}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:  # the reader went away (`lamour runs | head`): no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # for the exit flush
        return 128 + signal.SIGPIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
