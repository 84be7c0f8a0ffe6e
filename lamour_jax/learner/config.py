"""PPO configuration: shape-affecting choices are static, scalar hyperparameters are pytree
leaves (so a sweep over them is a vmap, as in rejax), and every env has a default."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from flax import struct


def _static(default: Any) -> Any:
    return struct.field(pytree_node=False, default=default)


@struct.dataclass
class PPOConfig:
    # --- loop structure and shapes (static: changing one recompiles)
    total_steps: int = _static(1_000_000)
    num_envs: int = _static(256)
    unroll_length: int = _static(20)
    num_minibatches: int = _static(8)
    update_epochs: int = _static(4)
    eval_every: int = _static(100_000)  # env steps between evaluations and checkpoints
    eval_envs: int = _static(16)
    episode_length: int = _static(1000)
    policy_hidden: tuple[int, ...] = _static((64, 64))
    value_hidden: tuple[int, ...] = _static((256, 256))
    activation: str = _static("tanh")
    policy_dropout: float = _static(0.0)  # > 0 makes a SeRO-ready policy (MC dropout)
    normalize_observations: bool = _static(True)
    # Keep the observation normaliser as it is (no running updates). Retraining sets it: the
    # original actor is a function of (parameters, statistics), and OOD observations would
    # otherwise drag the statistics away and change the original behaviour under it.
    freeze_normalizer: bool = _static(False)
    # The actor's normalised inputs are clipped to +-obs_clip. Retraining widens it: an OOD
    # pose lies tens of the original's standard deviations away (the hopper's torso angle at
    # -100 degrees is -30 sigma), and at 10 the actor could not tell one fallen pose from
    # another. Inputs within the old clip, where the original acts, are unchanged. The critic
    # has its own normaliser, fitted to whatever data the run sees.
    obs_clip: float = _static(10.0)
    # The actor divides by max(std, obs_std_floor). A floor near 1 only centres the features
    # that vary little in the trained task (a hopper's torso angle: std 0.06 rad), so that a
    # fallen pose stays a moderate input instead of a -30 sigma one that saturates every tanh
    # unit of the first layer: the policy keeps telling fallen poses apart, which retraining
    # needs. Part of the policy's function, so retraining takes the original's.
    obs_std_floor: float = _static(1e-3)
    # > 0: start the actor's Gaussian at this std in every state (the std head's weights are
    # zeroed and its bias set; the mean is untouched). Retraining uses it because a converged
    # original is nearly deterministic (hopper: std ~0.002), which leaves PPO nothing to
    # explore with in the OOD states. 0 keeps the std head as initialised or loaded.
    init_std: float = _static(0.0)
    # Env steps at the start during which only the critic learns: the actor's updates are held
    # back (its Adam moments still track its gradients). Retraining from an original actor with
    # a fresh critic uses it, so that the first policy updates follow a fitted value function
    # instead of a random one.
    critic_warmup_steps: int = _static(0)
    # "constant", "linear" (decays to 0 at total_steps) or "adaptive": after each minibatch
    # step the rate is divided by 1.5 when the measured KL to the rollout policy exceeds
    # 2 x desired_kl and multiplied by 1.5 below desired_kl / 2 (the rule legged-robot PPO
    # trainers such as rsl_rl use), which keeps fine-tuning from stepping off a good policy.
    lr_schedule: str = _static("constant")
    # "constant", or "linear": the entropy bonus anneals from entropy_coef to 0 at total_steps.
    # A bonus strong enough to find a rare behaviour (the ant's flip onto its feet) keeps the
    # policy noisy after it is found; annealing lets the noise come down again. Tried on the
    # ant's recovery, one seed each: annealed over 1.64M the gait came back but the flip got less
    # reliable; over 2.87M it walked on at one evaluation and lost it with the noise nearly
    # gone (benchmarks/results/recovery_ant_cpu.md), so no env defaults to it.
    entropy_schedule: str = _static("constant")
    # What the entropy bonus measures: "pre_tanh", the Gaussian before the squashing, which
    # grows without bound with the std, so a strong bonus drives the actions to +-1; or
    # "action", the entropy of the squashed action tanh(u) (one reparameterised sample per
    # state, as brax and SAC do), largest at a moderate std and falling as the actions
    # saturate. On the ant's recovery (10x bonus) it kept the noise moderate, but two seeds
    # fared like the pre-tanh run (benchmarks/results/recovery_ant_cpu.md), so no recovery
    # defaults to it; the hopper's original trains with it (_DEFAULTS below).
    entropy_space: str = _static("pre_tanh")
    # Where an env that ends restarts from (envs/wrappers.py, AutoResetBatch):
    # "per_rollout": one fresh start per env drawn before each rollout, taken by the env when
    # its episode ends (a second ending in the same rollout reuses it); the restart is a
    # select. "per_episode": a fresh draw at the step the episode ends, which costs a batched
    # reset on every step where any env ends (most steps early in training; under --seeds,
    # every step). Over 3 hopper seeds each, plain training learned alike either way; recovery
    # retraining keeps per_episode (benchmarks/results/auto_reset_hopper_cpu.md).
    auto_reset: str = _static("per_rollout")
    # --- scalar hyperparameters (pytree leaves)
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    entropy_coef: float = 1e-3
    value_coef: float = 0.5
    reward_scaling: float = 1.0
    max_grad_norm: float = 0.5
    desired_kl: float = 0.01  # lr_schedule="adaptive" only

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.unroll_length

    @property
    def iterations_per_eval(self) -> int:
        return max(1, round(self.eval_every / self.steps_per_iteration))

    @property
    def steps_per_eval(self) -> int:
        return self.iterations_per_eval * self.steps_per_iteration

    @property
    def num_evals(self) -> int:
        return max(1, -(-self.total_steps // self.steps_per_eval))

    @property
    def num_iterations(self) -> int:
        """Iterations in the whole budget (whole evaluation periods): what a linear schedule
        spans."""
        return self.num_evals * self.iterations_per_eval

    def few_iterations_note(self) -> str | None:
        """A budget that leaves PPO only a few iterations (many envs x a long unroll on few
        steps, say the CPU defaults with --num-envs 4096 on a GPU) learns little: say so."""
        if self.num_iterations >= FEW_ITERATIONS:
            return None
        return (f"note: {self.num_iterations} PPO iteration(s) of {self.steps_per_iteration:,} "
                f"env steps each (num_envs {self.num_envs} x unroll_length "
                f"{self.unroll_length}); PPO usually runs a hundred or more: raise --steps, or "
                "lower num_envs or unroll_length (--set unroll_length=...)")

    def budget_change_note(self, total_steps: int) -> str | None:
        """What giving a run in progress a new total does to it, when it matters: a linear
        schedule (learning rate, entropy bonus) is laid over the total, so it stretches (or
        shrinks)."""
        linear = [name for name, schedule in (("learning-rate", self.lr_schedule),
                                              ("entropy-bonus", self.entropy_schedule))
                  if schedule == "linear"]
        if not linear or total_steps == self.total_steps:
            return None
        return (f"note: the linear {' and '.join(linear)} schedule"
                f"{'s are' if len(linear) > 1 else ' is'} stretched to the new total of "
                f"{total_steps:,} steps, so this run differs from one started with it")

    def validate(self) -> PPOConfig:
        batch = self.num_envs * self.unroll_length
        if batch % self.num_minibatches:
            raise ValueError(f"num_envs * unroll_length = {batch} must divide into "
                             f"num_minibatches = {self.num_minibatches}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}")
        if self.entropy_schedule not in ENTROPY_SCHEDULES:
            raise ValueError(f"entropy_schedule must be one of {', '.join(ENTROPY_SCHEDULES)}")
        if self.entropy_space not in ENTROPY_SPACES:
            raise ValueError(f"entropy_space must be one of {', '.join(ENTROPY_SPACES)}")
        if self.auto_reset not in AUTO_RESETS:
            raise ValueError(f"auto_reset must be one of {', '.join(AUTO_RESETS)}")
        if not 0.0 <= self.policy_dropout < 1.0:
            raise ValueError("policy_dropout must be in [0, 1)")
        if self.init_std < 0:
            raise ValueError("init_std must be >= 0")
        if self.obs_clip <= 0 or self.obs_std_floor <= 0:
            raise ValueError("obs_clip and obs_std_floor must be > 0")
        if self.critic_warmup_steps < 0:
            raise ValueError("critic_warmup_steps must be >= 0")
        for name in ("total_steps", "num_envs", "unroll_length", "num_minibatches",
                     "update_epochs", "eval_every", "eval_envs", "episode_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        return self

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> PPOConfig:
        raw = json.loads(text)
        for key in ("policy_hidden", "value_hidden"):
            raw[key] = tuple(raw[key])
        return cls(**raw)

    def override(self, assignments: list[str]) -> PPOConfig:
        """Apply `key=value` strings (the CLI's --set), parsed by each field's type."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for item in assignments:
            key, sep, text = item.partition("=")
            if not sep or key not in fields:
                raise ValueError(f"--set {item!r}: expected key=value with key one of "
                                 f"{', '.join(sorted(fields))}")
            current = getattr(self, key)
            try:
                if isinstance(current, bool):
                    if text.lower() not in ("true", "false", "1", "0"):
                        raise ValueError(text)
                    value: Any = text.lower() in ("true", "1")
                elif isinstance(current, tuple):
                    value = tuple(int(v) for v in text.split(",") if v)
                else:
                    value = type(current)(float(text) if isinstance(current, int) else text)
                    if isinstance(current, int) and value != float(text):
                        raise ValueError(text)
            except ValueError:
                raise ValueError(f"--set {key}={text!r}: expected a value of type "
                                 f"{type(current).__name__}") from None
            changes[key] = value
        return self.replace(**changes).validate()


def read_run_record(path: Path) -> tuple[dict[str, Any], PPOConfig]:
    """A run's config.json and the PPO config it records: what `--resume` trains on (both
    `lamour train` and `lamour recover`). ValueError, naming the damage, when it is unreadable.
    """
    try:
        record = json.loads(Path(path).read_text())
        return record, PPOConfig.from_json(json.dumps(record["ppo"]))
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is damaged ({type(err).__name__}: {err}); it records how the "
                         "run was trained, so the run cannot be resumed without it") from None


# A fresh critic beside a trained actor (a recovery, `lamour train --init-policy`) first learns
# alone for this many env steps, so that its first, meaningless advantages do not move the
# actor (measured on hopper recoveries: benchmarks/results/recovery_hopper_cpu.md).
FRESH_CRITIC_WARMUP_STEPS = 51_200
# Below this many iterations in a run, `lamour train` warns (few_iterations_note). The
# shipped originals trained with 300 (hopper) to 2,000 (halfcheetah).
FEW_ITERATIONS = 50
ACTIVATIONS = ("tanh", "relu", "swish", "elu")
LR_SCHEDULES = ("constant", "linear", "adaptive")
ENTROPY_SCHEDULES = ("constant", "linear")
ENTROPY_SPACES = ("pre_tanh", "action")
AUTO_RESETS = ("per_rollout", "per_episode")

# Per-env defaults, like MuJoCo Playground's default_config(): sized so that a CPU run makes
# visible progress and a GPU run can scale num_envs up with --set. The Gym locomotion envs train
# on raw observations with swish units: an original that normalises its inputs sees a fallen
# pose as a -30..-90 sigma input and saturates, and retraining such a policy does not keep a
# recovery (benchmarks/results/recovery_hopper_cpu.md); raw observations keep OOD inputs of
# order 1. The linear schedule anneals the rate to 0 at total_steps.
_LOCOMOTION = dict(num_envs=256, unroll_length=20, reward_scaling=0.1, eval_every=204_800,
                   activation="swish", normalize_observations=False, lr_schedule="linear")
# More passes over smaller batches, PPO's usual MuJoCo settings (4,096-step batches, 10 epochs
# of 32 minibatches, no entropy bonus): in 3.07M steps the walker reached 3,061.5 this way,
# against 476.6 after 3.48M on the 256 x 20, 4 x 8 settings above, the cheetah 3,130.8
# against 1,203.5, the ant 2,071.9 against 1,512.7, the hopper (with a bonus, below) 3,555.2
# in 1.23M against 2,819.7 (lamour_jax/policies/README.md).
# The extra updates cost little next to the physics: it trained at 4.5k env steps/s on the 2-core
# CPU, about what the walker's env alone steps there (4.1-4.7k, env_throughput_cpu.md); the
# cheetah at 3.3k against its env's 3.3-4.0k.
_SAMPLE_REUSE = dict(num_envs=64, unroll_length=64, update_epochs=10, num_minibatches=32,
                     entropy_coef=0.0)
_DEFAULTS: dict[str, dict[str, Any]] = {
    "pointmass": dict(total_steps=60_000, num_envs=64, unroll_length=16, num_minibatches=4,
                      eval_every=10_240, episode_length=100, learning_rate=1e-3,
                      entropy_coef=1e-3, gamma=0.97),
    # The hopper with a small bonus on the squashed action's entropy: with no bonus it reached
    # 3,518.4 but its retraining got 1 seed of 3 up; with this one, 3 of 3 on the demo's
    # settings (lamour_jax/policies/README.md).
    "hopper": {**_LOCOMOTION, **_SAMPLE_REUSE, "total_steps": 1_228_800, "entropy_coef": 1e-3,
               "entropy_space": "action"},
    "walker2d": dict(_LOCOMOTION, **_SAMPLE_REUSE, total_steps=3_072_000),
    # 8.19M: 3,436.8 against 3,130.8 at 3.07M; the curve flattens on the CPU-sized loop. A
    # shorter horizon (discount 0.97, as brax's cheetah trains with 0.95) reached 3,945.3 in the
    # same budget (one seed each; 0.95 trailed both over its first 1.4M steps).
    "halfcheetah": dict(_LOCOMOTION, **_SAMPLE_REUSE, total_steps=8_192_000, gamma=0.97),
    # Twice the budget, and a small entropy bonus: the ant was still improving at 3.07M (2,071.9)
    # with its policy entropy falling fast; 6.14M with entropy_coef 1e-3 reached 2,768.5.
    "ant": {**_LOCOMOTION, **_SAMPLE_REUSE, "total_steps": 6_144_000, "entropy_coef": 1e-3,
            "eval_every": 409_600},
    "humanoid": dict(total_steps=10_000_000, num_envs=512, unroll_length=20,
                     reward_scaling=1.0, eval_every=204_800, policy_hidden=(128, 128)),
}


def default_config(env_name: str) -> PPOConfig:
    return PPOConfig(**_DEFAULTS.get(env_name, {})).validate()
