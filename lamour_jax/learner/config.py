"""The learner's configuration (PPO's, and SAC's few fields of its own): shape-affecting
choices are static, scalar hyperparameters are pytree leaves (so a sweep over them is a vmap,
as in rejax). Per-env settings: lamour_jax/params.py."""

from __future__ import annotations

import dataclasses
import json
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
    # "constant", or "linear": the entropy bonus anneals from entropy_coef to 0 at total_steps,
    # so that a bonus strong enough to find a rare behaviour need not keep the policy noisy
    # after it is found (tried on the ant's recovery: recovery_ant_cpu.md).
    entropy_schedule: str = _static("constant")
    # What the entropy bonus measures: "pre_tanh", the Gaussian before the squashing (grows
    # without bound with the std, so a strong bonus drives actions to +-1), or "action", the
    # entropy of the squashed action tanh(u) (one reparameterised sample per state, as brax and
    # SAC do), largest at a moderate std.
    entropy_space: str = _static("pre_tanh")
    # Which states the entropy bonus is paid on: "all", or "fallen", those that fail the env's
    # validity test (recovery: noise to find the way up, none pushed into the original's gait
    # once up, where consolidation narrows the policy toward the original's).
    entropy_states: str = _static("all")
    # Where an env that ends restarts from (envs/wrappers.py, AutoResetBatch): "per_rollout",
    # one fresh start per env drawn before each rollout (a select at the end; a second ending
    # in the same rollout reuses it), or "per_episode", a fresh draw at the step the episode
    # ends (a batched reset on every step where any env ends). Measured alike for plain
    # training (auto_reset_hopper_cpu.md).
    auto_reset: str = _static("per_rollout")
    # "none", or "popart" (PPO only): the critic learns its targets standardised by a running
    # mean and std (learner/normalizer.py, ReturnStats; updated once per iteration at
    # value_norm_rate), and its output layer is rescaled at each update so that its values in
    # reward units stay what they were (van Hasselt et al., 2016). A recovery pays a level
    # while the agent is down (lambda x a program that is negative everywhere: about -0.2 per
    # step on PushChair, a value near -20 at gamma 0.99) far above the differences between
    # values that the advantages are made of; standardised, the critic's regression is set by
    # their spread instead. PushChair's LaMOuR got the chair up in 52 % of OOD episodes with
    # it against 20 % without; the Gym envs' did not gain (popart_cpu.md), so off by default.
    value_normalization: str = _static("none")
    # What an episode that ends by a fall (the env's validity test failing; not the time
    # limit, not a blow-up) is worth after its last step: "zero", as the env says (the value
    # target stops there), or "bootstrap": the target goes on with the value of the state the
    # agent fell into, as if the episode went on from there (the advantage trace is still cut
    # there). Meant for retraining under a program that pays less than nothing while the
    # agent is down, where the end of an episode can look like a way out of those costs. On
    # the hopper, walker2d and cheetah's recoveries it made no clear difference (5-10 seeds
    # each, benchmarks/results/fall_value_native_cpu.md), so every default keeps "zero".
    fall_value: str = _static("zero")
    # "ppo" (every shipped original; every recovery but the humanoid's) or "sac": soft actor-critic
    # (learner/sac.py) on the same env batch, rollouts and recovery hooks, learning off-policy
    # from a replay buffer of everything the rollouts saw. The fields named sac_ and replay_
    # below, and tau, init_alpha and the target_entropy fields, are SAC's only.
    learner: str = _static("ppo")
    # SAC: transitions kept per member, rounded down to whole iterations (replay_capacity).
    # The buffer is part of the training state, so checkpoints carry it and a resume is exact.
    replay_size: int = _static(1_048_576)
    sac_batch_size: int = _static(256)
    # SAC: gradient steps after each rollout of num_envs x unroll_length env steps; their
    # ratio is SAC's update-to-data ratio (what its sample efficiency is bought with).
    sac_updates: int = _static(32)
    # SAC: "shared", one entropy temperature for every state, or "by_validity", two: one for
    # states that fail the env's validity test (aiming at target_entropy) and one for those
    # that pass it (aiming at target_entropy_valid). Recovery wants noise to find the way up
    # while fallen, and an original's near-saturated gait left alone once up: under one target
    # the walker's temperature widened its gait until it fell (benchmarks/results/sac_cpu.md).
    sac_temperatures: str = _static("shared")
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
    # value_normalization="popart": the weight of each iteration's targets in the running
    # statistics (0.05: they follow the last ~20 iterations).
    value_norm_rate: float = 0.05
    tau: float = 0.005  # SAC: the rate the target critics follow the critics at
    # SAC: the entropy temperature's start (it adapts toward target_entropy). Lower than the
    # usual 1 because retraining starts from a trained actor, whose actions a temperature of 1
    # would first spread toward uniform.
    init_alpha: float = 0.1
    target_entropy: float = -0.5  # SAC: per action dimension, the entropy alpha aims at
    # SAC with sac_temperatures=by_validity: the target on valid states, per action dimension.
    # The shipped walker's gait measures -2.2 and the hopper's -0.5 per dimension, so -2 lets
    # the temperature fade on an upright original without forcing noise into it.
    target_entropy_valid: float = -2.0

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.unroll_length

    @property
    def replay_capacity(self) -> int:
        """SAC's buffer in whole iterations, so that a rollout is written in one piece."""
        return self.replay_size // self.steps_per_iteration * self.steps_per_iteration

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

    @property
    def planned_steps(self) -> int:
        """Env steps the run trains: whole evaluation periods of whole iterations."""
        return self.num_evals * self.steps_per_eval

    def fit_period(self) -> PPOConfig:
        """This config with its evaluation period shortened to the budget when the budget is
        less than one period (40,960 steps against a 204,800-step period trains 40,960, not
        204,800). For a new run only: a run's period is fixed once it has checkpoints."""
        iterations = -(-self.total_steps // self.steps_per_iteration)
        if iterations >= self.iterations_per_eval:
            return self
        return self.replace(eval_every=iterations * self.steps_per_iteration)

    def budget_note(self) -> str | None:
        """What runs, when it is not exactly total_steps: whole evaluation periods, each of
        whole iterations."""
        if self.planned_steps == self.total_steps:
            return None
        return (f"note: {self.total_steps:,} steps asked for; {self.planned_steps:,} will run: "
                f"{self.num_evals} evaluation period(s) of {self.steps_per_eval:,} env steps "
                f"(eval_every, in whole iterations of num_envs x unroll_length = "
                f"{self.steps_per_iteration:,})")

    def warmup_note(self) -> str | None:
        """A budget inside critic_warmup_steps trains the critic alone: say so."""
        warmup_iterations = -(-self.critic_warmup_steps // self.steps_per_iteration)
        if warmup_iterations < self.num_iterations:
            return None
        return (f"note: all {self.planned_steps:,} steps lie within critic_warmup_steps "
                f"({self.critic_warmup_steps:,}), in which only the critic learns: the actor (the "
                f"policy) will not change; give --steps above {self.critic_warmup_steps:,}")

    def notes(self) -> list[str]:
        """Everything worth saying about this config before it compiles."""
        return [n for n in (self.budget_note(), self.warmup_note(), self.few_iterations_note())
                if n]

    def few_iterations_note(self) -> str | None:
        """A budget that leaves PPO only a few iterations (many envs x a long unroll on few
        steps, say the CPU defaults with --num-envs 4096 on a GPU) learns little: say so."""
        if self.num_iterations >= FEW_ITERATIONS or self.learner != "ppo":
            return None  # SAC learns per gradient step (sac_updates an iteration)
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
        if self.entropy_states not in ENTROPY_STATES:
            raise ValueError(f"entropy_states must be one of {', '.join(ENTROPY_STATES)}")
        if self.value_normalization not in VALUE_NORMALIZATIONS:
            raise ValueError("value_normalization must be one of "
                             f"{', '.join(VALUE_NORMALIZATIONS)}")
        if not 0.0 < self.value_norm_rate <= 1.0:
            raise ValueError("value_norm_rate must be in (0, 1]")
        if self.fall_value not in FALL_VALUES:
            raise ValueError(f"fall_value must be one of {', '.join(FALL_VALUES)}")
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
                     "update_epochs", "eval_every", "eval_envs", "episode_length",
                     "sac_batch_size", "sac_updates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.learner not in LEARNERS:
            raise ValueError(f"learner must be one of {', '.join(LEARNERS)}")
        if self.learner == "sac":
            self._validate_sac()
        return self

    def _validate_sac(self) -> None:
        if self.lr_schedule == "adaptive":
            raise ValueError("learner=sac: lr_schedule=adaptive is PPO's (it steers by the KL to "
                             "the rollout's policy); add --set lr_schedule=constant (or linear)")
        if self.policy_dropout > 0:
            raise ValueError("learner=sac trains without dropout: add --set policy_dropout=0 "
                             "(SeRO still reads a dropout original's uncertainty)")
        if self.value_normalization != "none":
            raise ValueError("learner=sac learns action values by its own targets: add --set "
                             "value_normalization=none (PopArt here is PPO's)")
        if self.replay_capacity < 1:
            raise ValueError(f"replay_size={self.replay_size} holds less than one iteration "
                             f"({self.steps_per_iteration:,} = num_envs x unroll_length)")
        if self.sac_temperatures not in SAC_TEMPERATURES:
            raise ValueError(f"sac_temperatures must be one of {', '.join(SAC_TEMPERATURES)}")
        if not 0.0 < self.tau <= 1.0 or self.init_alpha <= 0.0:
            raise ValueError("tau must be in (0, 1] and init_alpha > 0")

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


# Below this many iterations in a run, `lamour train` warns (few_iterations_note). The
# shipped originals trained with 300 (hopper) to 2,000 (halfcheetah).
FEW_ITERATIONS = 50
ACTIVATIONS = ("tanh", "relu", "swish", "elu")
LR_SCHEDULES = ("constant", "linear", "adaptive")
ENTROPY_SCHEDULES = ("constant", "linear")
ENTROPY_SPACES = ("pre_tanh", "action")
ENTROPY_STATES = ("all", "fallen")
AUTO_RESETS = ("per_rollout", "per_episode")
VALUE_NORMALIZATIONS = ("none", "popart")
FALL_VALUES = ("zero", "bootstrap")
LEARNERS = ("ppo", "sac")
SAC_TEMPERATURES = ("shared", "by_validity")
