"""hmpo.config: every profile validates; bad params fail at once, naming the key."""

import json

import pytest
import yaml

from hmpo.config import (
    PROFILE_NAMES,
    Config,
    ConfigError,
    config_from_dict,
    load_config,
    write_resolved,
)


@pytest.fixture
def params(repo_root):
    return yaml.safe_load((repo_root / "params.yaml").read_text())


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_every_profile_validates(repo_root, profile):
    cfg = load_config(repo_root / "params.yaml", profile=profile)
    assert isinstance(cfg, Config)
    assert cfg.profile == profile


def test_params_yaml_is_the_default_profile(repo_root, params):
    cfg = load_config(repo_root / "params.yaml", profile="default")
    # every value written in params.yaml is the value the default profile runs with
    assert cfg.train.learning_rate == pytest.approx(float(params["train"]["learning_rate"]))
    assert set(cfg.methods) == set(params["methods"])


def test_profile_overrides_win(repo_root):
    smoke = load_config(repo_root / "params.yaml", profile="smoke")
    default = load_config(repo_root / "params.yaml", profile="default")
    assert smoke.train.max_steps < default.train.max_steps
    # keys the profile does not set keep params.yaml's value
    assert smoke.train.epsilon == default.train.epsilon


def test_paper_profiles_carry_released_hyperparameters(repo_root):
    for name in ("qwen3.5-9b-lora", "qwen3.5-35b-a3b", "qwen3.5-122b-a10b-zero3"):
        t = load_config(repo_root / "params.yaml", profile=name).train
        assert (t.num_generations, t.prompts_per_step) == (10, 64)
        assert (t.epsilon, t.epsilon_high, t.beta) == (0.2, 0.28, 0.001)
        # LoRA adapters train at 10x the paper's full-parameter 5e-7 (a stated deviation)
        assert t.learning_rate == (5e-6 if t.use_lora else 5e-7) and t.loss_type == "dapo"
        assert t.max_completion_length == 24576
    assert load_config(repo_root / "params.yaml", profile="qwen3.5-9b-lora").train.use_lora
    assert not load_config(repo_root / "params.yaml", profile="qwen3.5-35b-a3b").train.use_lora


# Each case: (path to the key, bad value, what the message must name). A comment says why.
BAD = [
    (("train", "learning_rte"), 1e-4, "train.learning_rte"),  # typo: unknown key
    (("base_model", "rl_max_steps"), 100, "base_model.rl_max_steps"),  # below rl_steps
    (("base_model", "rl_check_steps"), 0, "base_model.rl_check_steps"),
    (("nonsense",), 1, "nonsense"),  # unknown top-level section
    (("train", "num_generations"), "eight", "train.num_generations"),  # wrong type
    (("train", "num_generations"), 8.5, "train.num_generations"),  # float for an int
    (("train", "use_lora"), "yes", "train.use_lora"),  # string for a bool
    (("train", "num_generations"), 1, "train.num_generations"),  # GRPO needs >= 2 rollouts
    (("train", "loss_type"), "mean", "train.loss_type"),  # not one of the literals
    (("data", "synthetic", "max_steps"), 0, "data.synthetic.max_steps"),  # max < min (1)
    (("data", "synthetic", "n_trian"), 1, "data.synthetic.n_trian"),  # nested typo
    (("train", "epsilon_high"), 0.1, "train.epsilon_high"),  # high clip below low clip
    (("evaluate", "temperature"), 0, "evaluate.temperature"),  # greedy with k > 1 samples
    (("methods", "hmpo", "reward"), "no_such_reward", "methods.hmpo.reward"),  # unknown reward
    (("methods", "hmpo", "rewrd"), "hmpo", "methods.hmpo.rewrd"),  # unknown method key
    (("profile",), "qwen-7b", "profile"),  # unknown profile
    (("train", "per_device_train_batch_size"), 7, "train.per_device_train_batch_size"),
    (("base_model", "kind"), "pretrained", "base_model.name_or_path"),  # needs a model id
    (("base_model", "sft_forward_threads"), 0, "base_model.sft_forward_threads"),
    (("train", "accelerate_config"), "configs/accelerate/nope.yaml", "train.accelerate_config"),
    # params.yaml runs 3 seeds side by side (workers: 3): on GPUs they would share the devices
    (("train", "accelerate_config"), "configs/accelerate/multi_gpu.yaml", "workers"),
    # a task configured but not drawn (a typo in the task name would be silently ignored)
    (("data", "gym", "task_configs"), {"chain_sums": {"max_digits": 1}},
     "data.gym.task_configs.chain_sums"),
    (("data", "gym", "task_configs"), {"chain_sum": 1}, "data.gym.task_configs.chain_sum"),
    (("data", "synthetic", "veiled_share"), 1.5, "data.synthetic.veiled_share"),
    (("data", "synthetic", "veil_zero_prob"), -0.1, "data.synthetic.veil_zero_prob"),
    (("data", "synthetic", "guess_share"), 2.0, "data.synthetic.guess_share"),
    # guesses are trained on veiled problems only (params.yaml: guess_share 0.3)
    (("data", "synthetic", "veiled_share"), 0.0, "data.synthetic.guess_share"),
]


@pytest.mark.parametrize("path,value,key", BAD, ids=[b[2] for b in BAD])
def test_bad_params_fail_naming_the_key(params, path, value, key):
    raw = json.loads(json.dumps(params))
    node = raw
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    with pytest.raises(ConfigError) as e:
        config_from_dict(raw, profile=raw.get("profile") if path == ("profile",) else "default")
    assert str(e.value).startswith(key), str(e.value)


# Checks that need two sections (hmpo.config._check_across_sections); each names the key to fix.
ACROSS = [
    # params.yaml trains early answers (early_share 0.1): they need the second SFT phase
    (("base_model", "sft_mix_steps"), 0, "data.synthetic.early_share"),
    # the tiny base model knows only the synthetic task
    (("data", "train_source"), "gym", "data.train_source"),
    # a budget percentile the base_model stage does not measure
    (("methods", "hmpo_fixed_p50", "budget_percentile"), 60, "methods.hmpo_fixed_p50"),
    # a set the data stage does not write
    (("evaluate", "sets"), ["synthetic_eval", "gym_nope"], "evaluate.sets"),
    # the base model's flatness checks read the accuracy logged at rl_steps + j x 60
    (("train", "logging_steps"), 7, "train.logging_steps"),
]


@pytest.mark.parametrize("path,value,key", ACROSS, ids=[a[2] for a in ACROSS])
def test_cross_section_checks_name_the_key(params, path, value, key):
    test_bad_params_fail_naming_the_key(params, path, value, key)


def test_validate_reports_the_first_failure_in_its_order(params):
    # validate checks the top-level keys, then data, base_model, train, methods, evaluate: with
    # two bad keys the one of the earlier part is reported
    raw = json.loads(json.dumps(params))
    raw["evaluate"]["n_samples"] = 0
    raw["data"]["synthetic"]["n_eval"] = 0
    with pytest.raises(ConfigError, match="^data.synthetic.n_eval"):
        config_from_dict(raw, profile="default")
    raw["seed"] = -1
    with pytest.raises(ConfigError, match="^seed"):
        config_from_dict(raw, profile="default")


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "params.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_numeric_strings_are_floats_only(params):
    raw = json.loads(json.dumps(params))
    raw["train"]["learning_rate"] = "1e-4"  # YAML reads 1e-4 as a string
    assert config_from_dict(raw, profile="default").train.learning_rate == 1e-4
    raw["train"]["max_steps"] = "10"
    with pytest.raises(ConfigError, match="^train.max_steps"):
        config_from_dict(raw, profile="default")


def test_resolved_config_written(tmp_path, repo_root):
    cfg = load_config(repo_root / "params.yaml", profile="smoke")
    path = write_resolved(cfg, tmp_path / "stage")
    back = json.loads(path.read_text())
    assert back["profile"] == "smoke"
    assert back["train"]["max_steps"] == cfg.train.max_steps
    # what was written loads back to the same config
    assert config_from_dict({**back}, profile="smoke") == cfg
