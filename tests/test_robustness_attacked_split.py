"""A split under PGD on a tiny random XLM-R: the first max_examples examples (every window of a QA
example), clean predictions kept beside the attacked ones, and the attack's metrics."""

from __future__ import annotations

import pytest
import torch

from test_robustness_pgd import TYPES, setup  # noqa: F401  (pretrained is the fixture setup reads)
from test_robustness_pgd import pretrained  # noqa: F401
from xstilts import synthetic
from xstilts.features import load_tokenizer
from xstilts.robustness.attacked_split import attack_split, subset
from xstilts.robustness.pgd import PGD
from xstilts.tasks import task_type


def run(pretrained, type_name, pgd, max_examples=None, metric="accuracy"):
    kind, labels, settings = TYPES[type_name]
    task = task_type(type_name)(labels)
    model, _, _ = setup(pretrained, type_name)
    options = {"context_sentences": 2} if kind == "span_qa" else {}
    examples = synthetic.generate(kind, split="test", lang="en", n=6, seed=7, stream="pgd", **options)
    columns = task.featurize(examples, load_tokenizer(pretrained), settings)
    return attack_split(model, "t", task, columns, examples, pgd, metric=metric, lang="en", settings=settings,
                        pad_id=model.encoder.config.pad_token_id, batch_size=4, device=torch.device("cpu"),
                        max_examples=max_examples), examples


def test_eps_zero_changes_no_prediction_and_succeeds_nowhere(pretrained):
    (records, metrics), _ = run(pretrained, "classification", PGD(eps=0.0, steps=2, step_size=0.1))
    assert all(r["prediction"] == r["clean_prediction"] for r in records)
    assert metrics["success_rate"] == 0.0 and metrics["score"] == metrics["clean_score"]
    assert metrics["forward_passes"] == 4 and metrics["backward_passes"] == 2


def test_only_the_first_examples_are_attacked(pretrained):
    (records, metrics), examples = run(pretrained, "classification", PGD(eps=2.0, steps=3, step_size=1.0),
                                       max_examples=4)
    assert [r["id"] for r in records] == [ex["id"] for ex in examples[:4]]
    assert metrics["score"] <= metrics["clean_score"] and 0 < metrics["mean_size"] <= 2.0 + 1e-5
    assert all("example_score" in r for r in records)


def test_a_qa_example_keeps_every_window_in_the_subset():
    features = {"input_ids": [[1], [2], [3], [4]], "example_index": [0, 0, 1, 2]}
    kept, examples = subset(features, [{"id": "a"}, {"id": "b"}, {"id": "c"}], 2)
    assert kept == {"input_ids": [[1], [2], [3]], "example_index": [0, 0, 1]} and len(examples) == 2


def test_span_qa_is_attacked_and_scored(pretrained):
    (records, metrics), _ = run(pretrained, "span_qa", PGD(eps=1.0, steps=2, step_size=0.5), max_examples=3,
                                metric="squad")
    assert len(records) == 3 and "f1" in metrics and "success_rate" not in metrics
