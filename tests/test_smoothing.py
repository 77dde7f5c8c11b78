"""Randomized smoothing (xstilts.robust_training.smoothing): the vote over random copies of each
input, its configuration (which perturbations and benchmarks, the copies as fresh draws), and a
smoothed evaluation through the workflow, checked against a vote recomputed from the copies'
predictions."""

from __future__ import annotations

import copy
import json
import shutil
from collections import Counter

import pytest
import yaml

from xstilts.config import ConfigError, Plan
from xstilts.io import read_jsonl
from xstilts.robust_training.smoothing import evaluate_vote, stable_share, vote

from workflow_runs import TINY, planned_jobs, snakemake


def draw(predictions: dict[str, str]) -> dict[str, dict]:
    return {i: {"id": i, "prediction": p} for i, p in predictions.items()}


def test_the_vote_is_the_majority_and_a_tie_goes_to_the_earliest_draw():
    voted = vote([draw({"a": "yes", "b": "no", "c": "x"}), draw({"a": "yes", "b": "yes", "c": "y"}),
                  draw({"a": "yes", "b": "no", "c": "z"})])
    assert {i: r["prediction"] for i, r in voted.items()} == {"a": "yes", "b": "no", "c": "x"}
    assert voted["a"]["unanimous"] and not voted["b"]["unanimous"]
    assert voted["b"]["votes"] == {"no": 2, "yes": 1}
    assert stable_share(voted.values()) == pytest.approx(100 / 3)
    tie = vote([draw({"a": "no"}), draw({"a": "yes"}), draw({"a": "yes"}), draw({"a": "no"})])
    assert tie["a"]["prediction"] == "no"  # two each: draw 1's


def test_the_vote_refuses_draws_of_other_examples_and_a_single_draw():
    with pytest.raises(ValueError, match="draw 2 predicts other examples than draw 1"):
        vote([draw({"a": "yes"}), draw({"b": "yes"})])
    with pytest.raises(ValueError, match="two or more draws"):
        vote([draw({"a": "yes"})])


def test_evaluate_vote_scores_the_voted_labels_against_the_gold_ones(tmp_path):
    examples = tmp_path / "en.jsonl"
    examples.write_text("".join(json.dumps({"id": i, "text_a": "t", "text_b": "u", "label": label}) + "\n"
                                for i, label in (("1", "entailment"), ("2", "neutral"), ("3", "contradiction"))))
    draws = []
    for d, labels in enumerate([("entailment", "neutral", "neutral"), ("entailment", "neutral", "entailment"),
                                ("neutral", "contradiction", "neutral")]):
        path = tmp_path / f"draw{d}.jsonl"
        path.write_text("".join(json.dumps({"lang": "en", "id": str(i + 1), "prediction": label}) + "\n"
                                for i, label in enumerate(labels)))
        draws.append(str(path))
    out = {"scores": tmp_path / "scores.json", "predictions": tmp_path / "predictions.jsonl"}
    evaluate_vote(draws=draws, languages={"en": str(examples)}, bench="xnli", bench_type="classification",
                  labels=["entailment", "neutral", "contradiction"], metric="accuracy", meta={"condition": "voted"},
                  out=out)
    result = json.loads(out["scores"].read_text())["results"][0]
    # Votes: 1 entailment (right), 2 neutral (right), 3 neutral (wrong): 2 of 3; no vote unanimous.
    assert result["score"] == pytest.approx(200 / 3) and result["metrics"]["stable_share"] == 0.0
    assert [r["example_score"] for r in read_jsonl(out["predictions"])] == [1.0, 1.0, 0.0]


# ---------------------------------------------------------------------------- configuration
def tiny_config() -> dict:
    return yaml.safe_load(TINY.read_text(encoding="utf-8"))


def test_a_smoothing_scores_its_copies_as_fresh_draws_of_its_perturbation():
    config = tiny_config()
    config["smoothing"] = {"voted": {"perturbation": "typos", "copies": 3}}
    plan = Plan(config)
    assert plan.smoothing["voted"] == {"perturbation": "typos", "copies": 3, "benchmarks": ["xnli"]}  # not panx
    assert plan.smoothing_draws("voted") == ["typos", "typos@2", "typos@3"]
    assert plan.perturbations["typos@3"]["draw"] == 3 and plan.perturbations["typos@3"]["benchmarks"] == ["xnli"]
    assert {"voted", "typos@2", "typos@3"} <= set(plan.conditions("xnli"))
    assert "voted" not in plan.conditions("panx") and plan.is_draw("typos@2") and not plan.is_draw("typos")
    assert config == tiny_config() | {"smoothing": config["smoothing"]}, "the config itself is left as it was"


@pytest.mark.parametrize("spec, message", [
    ({"perturbation": "mixed", "copies": 3}, r"smoothing.voted.perturbation: 'mixed' is not a random text perturbation"),
    ({"perturbation": "typos", "copies": 3, "benchmarks": ["panx"]}, r"'panx' \(tagging\) cannot be smoothed"),
    ({"perturbation": "typos", "copies": 3, "benchmarks": ["xcopa"]}, r"'xcopa' is not a benchmark of this study"),
])
def test_a_wrong_smoothing_is_refused_by_name(spec, message):
    config = copy.deepcopy(tiny_config())
    config["smoothing"] = {"voted": spec}
    with pytest.raises(ConfigError, match=message):
        Plan(config)


# ---------------------------------------------------------------------------- through the workflow
@pytest.mark.slow
def test_a_smoothed_evaluation_added_to_a_finished_run_votes_over_its_copies(finished_tiny_run, tmp_path):
    finished, tiny = finished_tiny_run
    workdir = tmp_path / "study"
    shutil.copytree(finished, workdir, symlinks=True)
    config = yaml.safe_load(tiny.read_text())
    config["smoothing"] = {"voted": {"perturbation": "typos", "copies": 3}}
    path = tmp_path / "smoothed.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert planned_jobs(workdir, path) == {"perturb/xnli/test/typos@2": 3, "perturb/xnli/test/typos@3": 3,
                                           "tokenize/xnli/test/typos@2": 3, "tokenize/xnli/test/typos@3": 3,
                                           "index_features/xnli/test/typos@2": 1, "index_features/xnli/test/typos@3": 1,
                                           "evaluate/xnli/typos@2": 3, "evaluate/xnli/typos@3": 3, "vote": 3,
                                           "report": 1, "all": 1}
    result = snakemake(workdir, path)
    assert result.returncode == 0, result.stderr[-5000:]
    base = workdir / "results" / "eval" / "tiny" / "mnli" / "mnli" / "xnli"
    copies = [[r for r in read_jsonl(base / c / "seed1" / "predictions.jsonl")] for c in ("typos", "typos@2", "typos@3")]
    data = workdir / "results" / "data" / "xnli" / "test"
    assert read_jsonl(data / "typos" / "en.jsonl") != read_jsonl(data / "typos@2" / "en.jsonl"), "different draws"
    voted = read_jsonl(base / "voted" / "seed1" / "predictions.jsonl")
    by_copy = [{(r["lang"], r["id"]): r["prediction"] for r in records} for records in copies]
    for record in voted:
        counts = Counter(found[(record["lang"], record["id"])] for found in by_copy)
        assert counts[record["prediction"]] == max(counts.values())
    scores = json.loads((base / "voted" / "seed1" / "scores.json").read_text())["results"]
    assert all(0 <= r["metrics"]["stable_share"] <= 100 for r in scores) and {r["condition"] for r in scores} == {"voted"}
    report = (workdir / "results" / "report" / "robustness.md").read_text()
    assert "## Randomized smoothing" in report and "xnli under voted" in report
    assert "typos@2" not in report, "the copies are read by the vote, not reported on their own"
