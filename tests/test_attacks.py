"""Attacks as config data and as evaluation conditions: the plan's checks and defaults, the
evaluate stage's attacked scores (a subset of examples, their clean score beside), and the
finished tiny run's attacked evaluations and report."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml

from helpers import tiny_pretrained
from xstilts import evaluation, features, synthetic
from xstilts.config import CLEAN, ConfigError, Plan
from xstilts.io import read_json, read_jsonl, write_jsonl
from xstilts.modeling import build_model, save_checkpoint
from xstilts.tasks import task_type

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "tests" / "configs" / "tiny.yaml").read_text())
PGD = {"kind": "pgd", "eps": 0.5, "steps": 2, "step_size": 0.3}
NLI = ["entailment", "neutral", "contradiction"]


def plan_with(attacks: dict) -> Plan:
    config = copy.deepcopy(TINY)
    config["attacks"] = attacks
    return Plan(config)


# ---- config ------------------------------------------------------------------------------
def test_an_attack_defaults_to_every_benchmark_with_a_head_and_is_a_condition_of_each():
    plan = plan_with({"probe": PGD})
    attack = plan.attacks["probe"]
    assert attack["benchmarks"] == ["xnli", "panx", "xquad", "mlqa"]  # not the retrieval benchmarks
    assert (attack["norm"], attack["random_start"], attack["seed"], attack["max_examples"]) == ("l2", False, 0, None)
    assert plan.conditions("xnli")[0] == CLEAN and plan.conditions("xnli")[-1] == "probe"
    assert "probe" not in plan.conditions("tatoeba") and plan.is_attack("probe") and not plan.is_attack("typos")
    assert "benchmarks" not in plan.attack_spec("probe")  # which benchmarks: no part of one's result


@pytest.mark.parametrize("attack, message", [
    ({"kind": "pgd", "eps": 0.5, "steps": 2}, r"attacks.probe: pgd needs step_size"),
    ({**PGD, "rate": 0.1}, r"attacks/probe.*'rate' was unexpected"),
    ({**PGD, "max_changes": 2}, r"attacks.probe: max_changes do not apply to pgd"),
    ({"kind": "hotflip"}, r"attacks.probe: hotflip needs max_changes"),
    ({"kind": "hotflip", "max_changes": 2, "benchmarks": ["panx"]}, r"hotflip does not apply to 'panx' \(type 'tagging'\)"),
    ({"kind": "codeswitch_attack", "max_changes": 2}, r"attacks.probe: codeswitch_attack needs languages"),
    ({**PGD, "benchmarks": ["tatoeba"]}, r"attacks.probe.benchmarks: pgd does not apply to 'tatoeba' \(type 'retrieval'\)"),
    ({**PGD, "benchmarks": ["paws_x"]}, r"attacks.probe.benchmarks: pgd does not apply to 'paws_x' \(not a benchmark"),
    ({**PGD, "norm": "l1"}, r"attacks/probe/norm"),
    ({**PGD, "eps": -1}, r"attacks/probe/eps"),
])
def test_a_wrong_attack_is_refused_by_name(attack, message):
    with pytest.raises(ConfigError, match=message):
        plan_with({"probe": attack})


def test_codeswitch_attack_on_data_the_generator_did_not_make_needs_a_dictionary_folder():
    config = copy.deepcopy(TINY)
    config["attacks"] = {"poly": {"kind": "codeswitch_attack", "max_changes": 2, "languages": ["de"],
                                  "benchmarks": ["xnli"]}}
    config["data"]["sources"] = {"xnli": "local"}
    config.pop("perturbations")
    with pytest.raises(ConfigError, match=r"attacks.poly.dictionaries: xnli are not generated data"):
        Plan(config)
    config["attacks"]["poly"]["dictionaries"] = "/data/muse"
    assert Plan(config).attack_spec("poly")["dictionaries"] == "/data/muse"


def test_a_transfer_set_is_a_perturbation_made_from_the_reference_checkpoints_texts():
    plan = plan_with({"flip": {"kind": "hotflip", "max_changes": 2, "benchmarks": ["xnli"],
                               "transfer_from": {"model": "tiny", "recipe": "mnli", "target": "mnli", "seed": 1}}})
    assert plan.conditions("xnli")[-2:] == ["flip-transfer", "flip"] and plan.transfer_sets() == ["flip-transfer"]
    assert plan.perturbations["flip-transfer"]["options"] == {"attack": "flip", "reference": {
        "model": "tiny", "recipe": "mnli", "seed": 1, "target": "mnli"}}
    assert "transfer_from" not in plan.attack_spec("flip")  # the reference makes the set, not the attack's scores
    assert plan.perturbation_spec("flip-transfer", "xnli")["kind"] == "transfer"


@pytest.mark.parametrize("reference, message", [
    ({"model": "tiny", "recipe": "multi", "seed": 3}, r"transfer_from.seed: 3 is not one of this study's \(1\)"),
    ({"model": "tiny", "recipe": "squad", "seed": 1}, r"transfer_from.recipe: 'squad' is not one of this study's"),
    ({"model": "tiny", "recipe": "none", "target": "panx", "seed": 1}, r"transfer_from.target: 'panx' does not feed"),
])
def test_a_wrong_reference_is_refused_by_name(reference, message):
    with pytest.raises(ConfigError, match=message):
        plan_with({"flip": {"kind": "hotflip", "max_changes": 2, "benchmarks": ["xnli"], "transfer_from": reference}})


def test_a_reference_must_have_its_target_trained_after_it():
    config = copy.deepcopy(TINY)
    config["targets"]["mnli"] = {"benches": ["xnli"], "recipes": ["none"]}  # flip's reference is mnli's
    with pytest.raises(ConfigError, match=r"attacks.flip.transfer_from.recipe: mnli is not trained after 'mnli'"):
        Plan(config)


def test_pgd_makes_no_texts_to_transfer():
    with pytest.raises(ConfigError, match=r"attacks.probe.transfer_from: pgd makes no texts to transfer"):
        plan_with({"probe": {**PGD, "transfer_from": {"model": "tiny", "recipe": "none", "seed": 1}}})


def test_the_transfer_set_holds_the_attacked_examples_in_the_clean_order(tmp_path):
    from xstilts.robustness.transfer import transfer_set

    clean = [{"id": str(i), "text_a": f"a{i}", "text_b": f"b{i}", "label": "neutral"} for i in range(4)]
    records = [{"lang": "de", "id": i, "prediction": "neutral", "success": i == "2",
                "adversarial": {**clean[int(i)], "text_a": f"x{i}"},
                "changes": [{"field": "text_a", "word": 0, "before": f"a{i}", "after": f"x{i}"}]} for i in ("2", "0")]
    path = tmp_path / "predictions.jsonl"
    write_jsonl(path, records + [{**records[0], "lang": "en"}])
    found = transfer_set(path, clean, lang="de", task_type="classification", where="transfer xnli/test/de")
    assert [(ex["id"], ex["text_a"], ex["fooled_reference"]) for ex in found] == [("0", "x0", False), ("2", "x2", True)]
    assert found[0]["changes"]["words"][0]["op"] == "substitute"
    write_jsonl(path, [{**records[0], "adversarial": {**records[0]["adversarial"], "label": "entailment"}}])
    with pytest.raises(ValueError, match=r"transfer xnli/test/de: example 2 has label 'entailment'"):
        transfer_set(path, clean, lang="de", task_type="classification", where="transfer xnli/test/de")
    with pytest.raises(ValueError, match=r"holds no adversarial texts of ru"):
        transfer_set(path, clean, lang="ru", task_type="classification", where="transfer xnli/test/ru")


def test_an_attack_may_not_share_a_perturbations_name():
    with pytest.raises(ConfigError, match=r"attacks.typos: a perturbation has this name too"):
        plan_with({"typos": PGD})


# ---- the evaluate stage ------------------------------------------------------------------
def nli_checkpoint(tmp_path) -> Path:
    pretrained = tiny_pretrained(tmp_path / "pretrained")
    torch.manual_seed(0)
    model = build_model(pretrained, {"mnli": task_type("classification")(NLI)})
    save_checkpoint(model, tmp_path / "checkpoint", {})
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (pretrained / name).exists():
            (tmp_path / "checkpoint" / name).write_bytes((pretrained / name).read_bytes())
    return tmp_path / "checkpoint"


def evaluate(tmp_path, checkpoint, attack, out: str) -> tuple[list[dict], list[dict]]:
    languages = {}
    for lang in ("en", "de"):
        examples = tmp_path / f"{lang}.jsonl"
        write_jsonl(examples, synthetic.generate("nli", split="test", lang=lang, n=12, seed=3, stream="attack"))
        languages[lang] = {"examples": str(examples), "features": str(tmp_path / f"{lang}.parquet")}
        features.tokenize(tokenizer_dir=checkpoint, task_type_name="classification", labels=NLI,
                          examples_paths=[str(examples)], settings={"max_length": 64}, outs=[languages[lang]["features"]])
    outputs = {"scores": str(tmp_path / f"{out}.json"), "predictions": str(tmp_path / f"{out}.jsonl")}
    evaluation.evaluate(checkpoint=checkpoint, head="mnli", bench="xnli", bench_type="classification",
                        metric="accuracy", retrieval_layer=None, settings={"max_length": 64},
                        meta={"condition": out, "seed": 1}, languages=languages, device=torch.device("cpu"),
                        batch_size=5, out=outputs, attack=attack)
    return read_json(outputs["scores"])["results"], read_jsonl(outputs["predictions"])


def test_an_attacked_evaluation_scores_its_subset_beside_the_subsets_clean_score(tmp_path):
    checkpoint = nli_checkpoint(tmp_path)
    spec = {"kind": "pgd", "eps": 3.0, "steps": 3, "step_size": 1.5, "norm": "l2", "random_start": True, "seed": 4,
            "max_examples": 7}
    results, predictions = evaluate(tmp_path, checkpoint, spec, "probe")
    clean_results, clean_predictions = evaluate(tmp_path, checkpoint, None, "clean")
    for result, clean in zip(results, clean_results):
        assert result["n_examples"] == 7 and result["metrics"]["backward_passes"] == 3
        mine = [p for p in clean_predictions if p["lang"] == result["lang"]][:7]
        assert result["metrics"]["clean_score"] == pytest.approx(100.0 * sum(p["example_score"] for p in mine) / 7)
        assert result["score"] <= result["metrics"]["clean_score"] and 0 < result["metrics"]["mean_size"] <= 3.0 + 1e-5
    assert [p["id"] for p in predictions if p["lang"] == "de"] == [p["id"] for p in clean_predictions
                                                                    if p["lang"] == "de"][:7]
    assert all({"clean_prediction", "example_score", "clean_example_score"} <= set(p) for p in predictions)
    again, _ = evaluate(tmp_path, checkpoint, spec, "again")
    assert [r["score"] for r in again] == [r["score"] for r in results]  # the random start comes from the seed


def test_word_attacks_run_in_the_evaluate_stage_with_the_tokenizer_and_dictionaries(tmp_path):
    from xstilts.robustness.codeswitch import write_dictionaries

    checkpoint = nli_checkpoint(tmp_path)
    hotflip = {"kind": "hotflip", "max_changes": 2, "seed": 0, "max_examples": 5, "tokenizer": str(checkpoint)}
    results, predictions = evaluate(tmp_path, checkpoint, hotflip, "flip")
    assert [r["n_examples"] for r in results] == [5, 5] and all("success_rate" in r["metrics"] for r in results)
    assert all(len(p["changes"]) <= 2 and set(p["adversarial"]) >= {"id", "text_a", "text_b", "label"}
               for p in predictions)
    write_dictionaries(tmp_path / "muse", seed=0)
    switch = {"kind": "codeswitch_attack", "max_changes": 2, "languages": ["de", "zh"], "dictionaries": str(tmp_path / "muse"),
              "seed": 0, "max_examples": 5, "tokenizer": str(checkpoint)}
    _, predictions = evaluate(tmp_path, checkpoint, switch, "poly")
    assert len(predictions) == 10
    with pytest.raises(FileNotFoundError, match=r"codeswitch_attack: no dictionary folder /no/such"):
        evaluate(tmp_path, checkpoint, {**switch, "dictionaries": "/no/such"}, "none")


# ---- on the finished tiny run's trained checkpoints ---------------------------------------------
def attacked_score(results: Path, target: str, bench: str, metric: str, settings: dict, attack: dict,
                   model: str = "tiny") -> dict:
    """English `bench` under `attack` on the `none` recipe's `target` checkpoint of a finished run."""
    from xstilts.features import read_features
    from xstilts.modeling import load_for_inference
    from xstilts.robustness.attacks import PreparedAttack

    checkpoint = load_for_inference(results / f"models/{model}/target/none/{target}/seed1")
    task = checkpoint.task_types[target]
    examples = read_jsonl(results / f"data/{bench}/test/en.jsonl")
    columns = read_features(results / f"features/{model}/{bench}/test/en.parquet")
    prepared = PreparedAttack({"seed": 0, "max_examples": 40, "tokenizer": str(results / f"models/{model}/pretrained"),
                               **attack})
    _, metrics = prepared.split(checkpoint, target, task, columns, examples, metric=metric, lang="en",
                                settings=settings, pad_id=checkpoint.encoder.config.pad_token_id, batch_size=16,
                                device=torch.device("cpu"))
    return metrics


def pgd(eps: float, steps: int = 5) -> dict:
    return {"kind": "pgd", "eps": eps, "steps": steps, "step_size": eps / 4, "norm": "l2", "random_start": False}


def demo_score(finished_demo_run, target: str, bench: str, attack: dict) -> dict:
    plan = Plan(yaml.safe_load((ROOT / "config.yaml").read_text()))
    return attacked_score(finished_demo_run / "results", target, bench, plan.task(bench)["metric"],
                          plan.task_settings(bench), attack, model="demo-tiny")


@pytest.mark.slow
def test_pgd_on_a_trained_demo_classifier_falls_as_the_radius_grows(finished_demo_run):
    scores = [demo_score(finished_demo_run, "mnli", "xnli", pgd(eps)) for eps in (0.0, 0.05, 0.1, 0.2)]
    assert scores[0]["score"] == scores[0]["clean_score"] and scores[0]["backward_passes"] == 5
    assert all(a["score"] >= b["score"] for a, b in zip(scores, scores[1:])), [s["score"] for s in scores]
    assert scores[-1]["score"] < scores[0]["score"] and scores[-1]["success_rate"] > 0


@pytest.mark.slow
def test_hotflips_success_rate_on_a_trained_demo_classifier_does_not_fall_as_its_budget_grows(finished_demo_run):
    rates = [demo_score(finished_demo_run, "mnli", "xnli", {"kind": "hotflip", "max_changes": budget})["success_rate"]
             for budget in (1, 2, 4)]
    assert rates[0] <= rates[1] <= rates[2] and rates[2] > rates[0], rates


@pytest.mark.slow
def test_pgd_lowers_a_trained_demo_tagger_and_reader(finished_demo_run):
    tagging = demo_score(finished_demo_run, "panx", "panx", pgd(1.0))
    reading = demo_score(finished_demo_run, "squad_v1", "xquad", pgd(1.0))
    assert tagging["score"] < tagging["clean_score"] and reading["score"] < reading["clean_score"]


@pytest.mark.slow
def test_the_tiny_run_attacks_xnli_and_reports_the_worst_case(finished_tiny_run):
    """tests/configs/tiny.yaml attacks XNLI with PGD (probe) and hotflip (flip), 8 examples per
    language: one evaluation per recipe and attack on the clean features, and the report's attack
    table and answer."""
    results = finished_tiny_run[0] / "results"
    for recipe in ("none", "mnli", "multi"):
        for attack in ("probe", "flip"):
            scores = read_json(results / f"eval/tiny/{recipe}/mnli/xnli/{attack}/seed1/scores.json")["results"]
            assert [(r["lang"], r["condition"], r["n_examples"]) for r in scores] == [(lang, attack, 8)
                                                                                      for lang in ("en", "de", "zh")]
            assert all("clean_score" in r["metrics"] and "success_rate" in r["metrics"] for r in scores)
        flipped = read_jsonl(results / f"eval/tiny/{recipe}/mnli/xnli/flip/seed1/predictions.jsonl")
        assert all(len(p["changes"]) <= 2 and "adversarial" in p for p in flipped)
        transferred = read_json(results / f"eval/tiny/{recipe}/mnli/xnli/flip-transfer/seed1/scores.json")["results"]
        assert [r["n_examples"] for r in transferred] == [8, 8, 8]
    assert not (results / "features/tiny/xnli/test/probe").exists()  # an attack reads the clean features
    # The reference scores on its own transfer set what it scored under the attack that made it.
    attacked = read_json(results / "eval/tiny/mnli/mnli/xnli/flip/seed1/scores.json")["results"]
    transferred = read_json(results / "eval/tiny/mnli/mnli/xnli/flip-transfer/seed1/scores.json")["results"]
    assert [r["score"] for r in transferred] == [r["score"] for r in attacked]
    assert "## Recipes and attacks" in (results / "report/robustness.md").read_text()
    assert "Worst case (attacks):" in (results / "report/index.md").read_text()
