"""Offline adversarial augmentation (recipes.<r>.augment.<task>: {attack, against, ratio}): the draw
of attacked examples, the rows added, the config's checks, and the whole path on a finished run."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
import yaml
from safetensors.torch import load_file

from workflow_runs import TINY, planned_jobs, snakemake
from xstilts.config import ConfigError, Plan
from xstilts.io import read_jsonl
from xstilts.robust_training.adversarial_data import ID_SUFFIX, adversarial_rows, attacked_indices

AGAINST_NONE = {"model": "tiny", "recipe": "none", "seed": 1}


def tiny_with_adversarial_recipe(**augment) -> dict:
    """tiny.yaml with mnli_adv: MNLI plus flip's texts against the checkpoint fine-tuned on MNLI after `none`."""
    config = yaml.safe_load(TINY.read_text())
    config["recipes"]["mnli_adv"] = {"tasks": ["mnli"], "targets": ["mnli"],
                                     "augment": {"mnli": {"attack": "flip", "against": dict(AGAINST_NONE), **augment}}}
    return config


# ---------------------------------------------------------------------------- the draw and the rows
def test_the_attacked_examples_are_a_share_drawn_from_the_seed_and_the_language():
    drawn = attacked_indices(200, 0.25, 0, "en")
    assert len(drawn) == 50 and drawn == sorted(set(drawn)) and all(0 <= i < 200 for i in drawn)
    assert drawn == attacked_indices(200, 0.25, 0, "en")
    assert drawn != attacked_indices(200, 0.25, 1, "en") and drawn != attacked_indices(200, 0.25, 0, "de")
    assert attacked_indices(200, 1.0, 0, "en") == list(range(200))
    assert len(attacked_indices(3, 0.01, 0, "en")) == 1, "at least one"


def test_only_the_examples_the_attack_changed_are_added_with_their_ids_marked():
    attacked = [{"id": "a", "text_a": "x y", "changes": [], "passes": {"forward": 1, "backward": 0}},
                {"id": "b", "text_a": "x z", "changes": [{"field": "text_a", "word": 2, "before": "y", "after": "z"}],
                 "passes": {"forward": 9, "backward": 1}}]
    assert adversarial_rows(attacked) == [{"id": f"b{ID_SUFFIX}", "text_a": "x z", "changes": attacked[1]["changes"]}]


# ---------------------------------------------------------------------------- the config
def test_the_plan_names_the_set_and_what_makes_it():
    plan = Plan(tiny_with_adversarial_recipe(ratio=0.5))
    assert plan.training_splits("mnli_adv", "mnli") == ["train/flip-for-mnli_adv"]
    made = plan.adversarial_sets()[("mnli", "flip-for-mnli_adv")]
    assert made == {"name": "flip", "attack": {"kind": "hotflip", "max_changes": 2}, "against": AGAINST_NONE,
                    "ratio": 0.5, "seed": 0, "languages": ["en"]}
    assert ("mnli", "train", "flip-for-mnli_adv") in plan.augmented_splits()
    assert "mnli_adv" in plan.robust_comparison()["recipes"], "compared with English-only training"


def test_an_attack_that_only_makes_training_data_needs_no_benchmark():
    config = tiny_with_adversarial_recipe()
    config["attacks"]["flip"]["benchmarks"] = []
    assert Plan(config).conditions("xnli") == ["clean", "typos", "switched", "mixed", "probe"]
    del config["recipes"]["mnli_adv"]
    with pytest.raises(ConfigError, match=r"attacks.flip: no benchmark to attack \(and no recipe's training data\)"):
        Plan(config)


@pytest.mark.parametrize("change, message", [
    ({"attack": "probe"}, r"recipes.mnli_adv.augment.mnli.attack: 'probe' is not a text attack of this study "
                          r"\(usable: flip; pgd makes no texts\)"),
    ({"attack": "nothing"}, r"'nothing' is not a text attack"),
    ({"against": {**AGAINST_NONE, "recipe": "mnli_adv"}}, r"against.recipe: 'mnli_adv' cannot be trained on data "
                                                          r"made against its own checkpoint"),
    ({"against": {**AGAINST_NONE, "model": "large"}}, r"against.model: 'large' is not one of this study's \(tiny\)"),
    ({"against": {**AGAINST_NONE, "seed": 2}}, r"against.seed: 2 is not one of this study's \(1\)"),
    ({"ratio": 0}, r"augment.mnli.ratio: 0 is not a share of the training examples in \(0, 1\]"),
    ({"ratio": 1.5}, r"augment.mnli.ratio: 1.5 is not a share"),
])
def test_a_wrong_adversarial_augmentation_is_refused_by_name(change, message):
    config = tiny_with_adversarial_recipe()
    config["recipes"]["mnli_adv"]["augment"]["mnli"].update(change)
    with pytest.raises(ConfigError, match=message):
        Plan(config)


def test_the_attacked_checkpoint_must_be_fine_tuned_on_the_task():
    config = tiny_with_adversarial_recipe()
    config["targets"]["mnli"] = {"benches": ["xnli"], "recipes": ["mnli"]}  # not trained after `none`
    with pytest.raises(ConfigError, match=r"against: the attack needs a checkpoint fine-tuned on 'mnli', the target "
                                          r"'mnli' trained after 'none'"):
        Plan(config)
    config = copy.deepcopy(tiny_with_adversarial_recipe())
    config["recipes"]["mnli_adv"]["tasks"] = ["mnli", "ccg"]
    config["recipes"]["mnli_adv"]["augment"] = {"ccg": {"attack": "flip", "against": AGAINST_NONE}}
    with pytest.raises(ConfigError, match=r"augment.ccg.attack: flip \(hotflip\) cannot attack 'ccg'"):
        Plan(config)


# ---------------------------------------------------------------------------- through the workflow
@pytest.mark.slow
def test_a_recipe_trains_on_its_data_plus_the_attacks_texts_against_a_given_checkpoint(finished_tiny_run, tmp_path):
    finished, _ = finished_tiny_run
    workdir = tmp_path / "study"
    shutil.copytree(finished, workdir, symlinks=True)
    config = tiny_with_adversarial_recipe(ratio=0.5)
    config["retrieval"] = []  # what the new recipe's encoder would be scored on besides XNLI: not the point here
    path = tmp_path / "adversarial.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    plan = planned_jobs(workdir, path)
    assert {label: plan[label] for label in ("adversarial_data", "tokenize/mnli/train/flip-for-mnli_adv",
                                             "intermediate", "target")} == {
        "adversarial_data": 1, "tokenize/mnli/train/flip-for-mnli_adv": 1, "intermediate": 1, "target": 1}
    result = snakemake(workdir, path)
    assert result.returncode == 0, result.stderr[-5000:]

    data = workdir / "results/data/mnli/train"
    clean, augmented = read_jsonl(data / "en.jsonl"), read_jsonl(data / "flip-for-mnli_adv/en.jsonl")
    summary = json.loads((data / "flip-for-mnli_adv/en.summary.json").read_text())
    added = augmented[len(clean):]
    assert augmented[:len(clean)] == clean and len(added) == summary["added"] > 0
    assert summary["attacked"] == round(0.5 * len(clean)) >= summary["added"] + summary["already_wrong"]
    sources = {row["id"]: row for row in clean}
    for row in added:
        source = sources[row["id"].removesuffix(ID_SUFFIX)]
        assert 1 <= len(row["changes"]) <= 2 and row["label"] == source["label"]
        assert (row["text_a"], row["text_b"]) != (source["text_a"], source["text_b"])
        assert all(change["after"] in row[change["field"]] for change in row["changes"])

    models = workdir / "results/models/tiny/intermediate"
    plain, adversarial = (load_file(models / r / "seed1/model.safetensors") for r in ("mnli", "mnli_adv"))
    assert any(not plain[name].equal(adversarial[name]) for name in plain)
    report = (workdir / "results/report/q_robust_int.md").read_text()
    assert "mnli_adv" in report
