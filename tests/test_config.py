import pytest

from xstilts.config import TRAINING_DEFAULTS, ConfigError, Plan


def test_demo_config_is_valid(demo_config):
    plan = Plan(demo_config)
    assert list(plan.recipes)[0] == "none"
    assert plan.targets["squad_v1"]["benches"] == ["xquad", "mlqa"]
    assert plan.languages("xnli", "test") == ["en", "de", "ru", "ar", "zh"]
    assert "en" not in plan.languages("tatoeba", "test")
    assert plan.languages("mnli", "train") == ["en"]


def test_unknown_top_level_key_is_named(demo_config):
    demo_config["recipies"] = {}
    with pytest.raises(ConfigError, match="recipies"):
        Plan(demo_config)


def test_wrong_type_is_named_with_its_path(demo_config):
    demo_config["training"]["defaults"]["lr"] = "fast"
    with pytest.raises(ConfigError, match="training/defaults/lr"):
        Plan(demo_config)


def test_unknown_task_in_recipe_is_named(demo_config):
    demo_config["recipes"]["mnli"] = ["mnlii"]
    with pytest.raises(ConfigError, match="recipe 'mnli': unknown task 'mnlii'"):
        Plan(demo_config)


def test_unknown_benchmark_is_named(demo_config):
    demo_config["targets"]["mnli"] = ["xnlii"]
    with pytest.raises(ConfigError, match="unknown task 'xnlii'"):
        Plan(demo_config)


def test_target_and_benchmark_types_must_match(demo_config):
    demo_config["targets"]["mnli"] = ["udpos"]
    with pytest.raises(ConfigError, match="cannot feed benchmark 'udpos'"):
        Plan(demo_config)


def test_none_recipe_must_be_empty(demo_config):
    demo_config["recipes"]["none"] = ["mnli"]
    with pytest.raises(ConfigError, match="recipe 'none'"):
        Plan(demo_config)


def test_bad_wildcard_name_is_rejected(demo_config):
    demo_config["recipes"]["Bad Name"] = ["mnli"]
    with pytest.raises(ConfigError, match="Bad Name"):
        Plan(demo_config)


def test_hyperparameters_resolve_in_layers(demo_config):
    demo_config["targets"]["pawsx"] = {"benches": ["pawsx"], "training": {"lr": 0.5}}
    plan = Plan(demo_config)
    pawsx = plan.training("target", "demo-tiny", "pawsx")
    udpos = plan.training("target", "demo-tiny", "udpos")
    assert pawsx["lr"] == 0.5
    assert udpos["lr"] == demo_config["training"]["defaults"]["lr"]
    assert udpos["weight_decay"] == TRAINING_DEFAULTS["weight_decay"]
    assert plan.training("pretrain", "demo-tiny")["epochs"] == demo_config["training"]["pretrain"]["epochs"]
