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
    ({**PGD, "benchmarks": ["tatoeba"]}, r"attacks.probe.benchmarks: pgd does not apply to 'tatoeba' \(type 'retrieval'\)"),
    ({**PGD, "benchmarks": ["paws_x"]}, r"attacks.probe.benchmarks: pgd does not apply to 'paws_x' \(not a benchmark"),
    ({**PGD, "norm": "l1"}, r"attacks/probe/norm"),
    ({**PGD, "eps": -1}, r"attacks/probe/eps"),
])
def test_a_wrong_attack_is_refused_by_name(attack, message):
    with pytest.raises(ConfigError, match=message):
        plan_with({"probe": attack})


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
        assert result["n_examples"] == 7 and result["metrics"]["backward_passes_per_row"] == 3
        mine = [p for p in clean_predictions if p["lang"] == result["lang"]][:7]
        assert result["metrics"]["clean_score"] == pytest.approx(100.0 * sum(p["example_score"] for p in mine) / 7)
        assert result["score"] <= result["metrics"]["clean_score"] and 0 < result["metrics"]["mean_norm"] <= 3.0 + 1e-5
    assert [p["id"] for p in predictions if p["lang"] == "de"] == [p["id"] for p in clean_predictions
                                                                    if p["lang"] == "de"][:7]
    assert all({"clean_prediction", "example_score", "clean_example_score"} <= set(p) for p in predictions)
    again, _ = evaluate(tmp_path, checkpoint, spec, "again")
    assert [r["score"] for r in again] == [r["score"] for r in results]  # the random start comes from the seed


# ---- on the finished tiny run's trained checkpoints ---------------------------------------------
def attacked_score(results: Path, target: str, bench: str, metric: str, settings: dict, attack: dict) -> dict:
    """English `bench` under `attack` on the `none` recipe's `target` checkpoint of the tiny run."""
    from xstilts.features import read_features
    from xstilts.modeling import load_for_inference
    from xstilts.robustness.attacks import attacked_split

    model = load_for_inference(results / f"models/tiny/target/none/{target}/seed1")
    task = model.task_types[target]
    examples = read_jsonl(results / f"data/{bench}/test/en.jsonl")
    columns = read_features(results / f"features/tiny/{bench}/test/en.parquet")
    _, metrics = attacked_split(model, target, task, columns, examples, {"seed": 0, "max_examples": 40, **attack},
                                metric=metric, lang="en", settings=settings, pad_id=model.encoder.config.pad_token_id,
                                batch_size=16, device=torch.device("cpu"))
    return metrics


def pgd(eps: float, steps: int = 3) -> dict:
    return {"kind": "pgd", "eps": eps, "steps": steps, "step_size": eps / 2, "norm": "l2", "random_start": False}


@pytest.mark.slow
def test_pgd_on_a_trained_classifier_falls_as_the_radius_grows(finished_tiny_run):
    results = finished_tiny_run[0] / "results"
    run = lambda eps: attacked_score(results, "mnli", "xnli", "accuracy", {}, pgd(eps))  # noqa: E731
    scores = [run(eps) for eps in (0.0, 0.5, 2.0, 8.0)]
    assert scores[0]["score"] == scores[0]["clean_score"] and scores[0]["backward_passes_per_row"] == 3
    assert all(a["score"] >= b["score"] for a, b in zip(scores, scores[1:])), [s["score"] for s in scores]
    assert scores[-1]["score"] < scores[0]["score"] and scores[-1]["success_rate"] > 0


@pytest.mark.slow
def test_pgd_lowers_a_trained_tagger_and_a_trained_reader(finished_tiny_run):
    results = finished_tiny_run[0] / "results"
    plan = Plan(copy.deepcopy(TINY))
    tagging = attacked_score(results, "panx", "panx", "ner", plan.task_settings("panx"), pgd(8.0))
    reading = attacked_score(results, "squad_v1", "xquad", "squad", plan.task_settings("xquad"), pgd(8.0))
    assert tagging["score"] < tagging["clean_score"] and reading["score"] < reading["clean_score"]


@pytest.mark.slow
def test_the_tiny_run_attacks_xnli_and_reports_the_worst_case(finished_tiny_run):
    """tests/configs/tiny.yaml attacks XNLI with PGD (probe, 8 examples per language): one
    evaluation per recipe on the clean features, and the report's attack table and answer."""
    results = finished_tiny_run[0] / "results"
    for recipe in ("none", "mnli", "multi"):
        scores = read_json(results / f"eval/tiny/{recipe}/mnli/xnli/probe/seed1/scores.json")["results"]
        assert [(r["lang"], r["condition"], r["n_examples"]) for r in scores] == [(lang, "probe", 8)
                                                                                  for lang in ("en", "de", "zh")]
        assert all("clean_score" in r["metrics"] and "success_rate" in r["metrics"] for r in scores)
    assert not (results / "features/tiny/xnli/test/probe").exists()  # an attack reads the clean features
    assert "## Recipes and attacks" in (results / "report/robustness.md").read_text()
    assert "Worst case (attacks):" in (results / "report/index.md").read_text()
