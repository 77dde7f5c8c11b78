"""Each task type's featurise -> collate -> head -> decode -> score round trip.

Two checks per type: the real model runs end to end (finite loss, gradients reach the
encoder, predictions in the schema), and decoding "oracle" outputs built from the features'
own labels gives back the gold answers, so featurisation and decoding are inverses."""

import numpy as np
import pyarrow as pa
import pytest
import torch

from xstilts.inference import evaluate_split, rows_of
from xstilts.modeling import build_model, load_checkpoint, save_checkpoint
from xstilts.features import load_tokenizer, read_features, write_features
from xstilts.tasks import task_type
from xstilts.tasks.tagging import Tagging

from helpers import tiny_pretrained

EXAMPLES = {
    "classification": [
        {"id": "c1", "text_a": "Anna buys 3 red apples .", "text_b": "Anna buys apples .", "label": "entailment"},
        {"id": "c2", "text_a": "Marco sells the car .", "text_b": "Marco buys the car .", "label": "contradiction"},
        {"id": "c3", "text_a": "Lena sees trees .", "text_b": "Lena sees 12 trees in Rome .", "label": "neutral"},
    ],
    "multiple_choice": [
        {"id": "m1", "context": "Anna buys 3 red apples . What does Anna buy ?",
         "choices": ["red apples", "blue cars", "green trees", "a book"], "label": 0},
        {"id": "m2", "context": "Marco reads a long book . What does Marco read ?",
         "choices": ["red apples", "a long book", "the river", "a car"], "label": 1},
    ],
    "tagging": [
        {"id": "t1", "tokens": ["Anna", "buys", "3", "red", "apples", "in", "Paris", "."],
         "tags": ["B-PER", "O", "O", "O", "O", "O", "B-LOC", "O"]},
        {"id": "t2", "tokens": ["Кира", "видит", "5", "домов", "."], "tags": ["B-PER", "O", "O", "O", "O"]},
    ],
    "span_qa": [
        {"id": "q1", "context": "Anna buys 3 red apples in Paris . Marco sells the blue car in Rome .",
         "question": "Who sells the blue car ?", "answers": {"text": ["Marco"], "answer_start": [33]}},
        {"id": "q2", "context": "The old man reads a long book near the river . Lena sees 12 green trees .",
         "question": "How many trees does Lena see ?", "answers": {"text": ["12"], "answer_start": [57]}},
    ],
}
LABELS = {"classification": ["entailment", "neutral", "contradiction"]}
SETTINGS = {"classification": {"max_length": 64}, "multiple_choice": {"max_length": 32},
            "tagging": {"max_length": 64}, "span_qa": {"max_length": 40, "stride": 8}}
METRICS = {"classification": "accuracy", "multiple_choice": "accuracy", "tagging": "ner", "span_qa": "squad"}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    return tiny_pretrained(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tokenizer(pretrained):
    return load_tokenizer(pretrained)


def make_type(name, features=None):
    labels = Tagging.labels_from(features) if name == "tagging" else LABELS.get(name)
    return task_type(name)(labels)


def oracle_outputs(name, task, features):
    """Per-row outputs a perfect model would give, derived from the features' labels."""
    outputs = []
    for row in rows_of(features):
        if name == "classification":
            outputs.append(np.eye(len(task.labels))[row["label"]])
        elif name == "multiple_choice":
            outputs.append(np.eye(len(row["input_ids"]))[row["label"]])
        elif name == "tagging":
            index = {t: i for i, t in enumerate(task.labels)}
            outputs.append(np.array([index.get(t, 0) for t in row["token_tags"]]))
        elif name == "span_qa":
            logits = np.full((len(row["input_ids"]), 2), -10.0)
            logits[row["start_position"], 0] = logits[row["end_position"], 1] = 10.0
            outputs.append(logits)
    return outputs


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_oracle_outputs_decode_to_gold(name, tokenizer):
    examples = EXAMPLES[name]
    features = task_type(name)(LABELS.get(name)).featurize(examples, tokenizer, SETTINGS[name])
    task = make_type(name, features)
    predictions = task.decode(oracle_outputs(name, task, features), features, examples, SETTINGS[name])
    assert [p["id"] for p in predictions] == [ex["id"] for ex in examples]
    assert task.score(predictions, examples, METRICS[name], "en")["score"] == pytest.approx(100.0)


def test_unanswerable_questions_decode_to_empty_and_score_as_squad_v2(tokenizer):
    examples = [dict(EXAMPLES["span_qa"][0]), dict(EXAMPLES["span_qa"][1], answers={"text": [], "answer_start": []})]
    task = task_type("span_qa")()
    features = task.featurize(examples, tokenizer, SETTINGS["span_qa"])
    assert [s for e, s in zip(features["example_index"], features["start_position"]) if e == 1] == [0] * \
        features["example_index"].count(1), "unanswerable windows point at <s>"
    outputs = oracle_outputs("span_qa", task, features)
    settings = {**SETTINGS["span_qa"], "null_answers": True}
    predictions = task.decode(outputs, features, examples, settings)
    assert predictions[1]["prediction"] == "" and predictions[0]["prediction"].strip() == "Marco"
    assert task.score(predictions, examples, "squad", "en")["score"] == pytest.approx(100.0)
    wrong = [predictions[0], {"id": "q2", "prediction": "12"}]
    assert task.score(wrong, examples, "squad", "en")["exact_match"] == pytest.approx(50.0)


def test_overlong_question_is_shortened_not_fatal(tokenizer):
    example = dict(EXAMPLES["span_qa"][0], question="Who sells the blue car ? " * 20)
    features = task_type("span_qa")().featurize([example], tokenizer, SETTINGS["span_qa"])
    assert max(len(ids) for ids in features["input_ids"]) <= SETTINGS["span_qa"]["max_length"]


def test_long_qa_context_is_split_into_windows_with_the_answer_in_some(tokenizer):
    example = dict(EXAMPLES["span_qa"][0], question="Who ?")
    features = task_type("span_qa")().featurize([example], tokenizer, {"max_length": 16, "stride": 4})
    starts = features["start_position"]
    assert len(starts) > 2, "max_length 16 must force several windows"
    assert any(s > 0 for s in starts), "some window holds the answer"
    assert any(s == 0 for s in starts), "windows without the answer point at <s>"
    for ids, offsets, start, end in zip(features["input_ids"], features["offsets"], starts, features["end_position"]):
        if start > 0:
            assert example["context"][offsets[start][0]:offsets[end][1]].strip() == "Marco"


def test_tagging_labels_only_first_subword(tokenizer):
    examples = EXAMPLES["tagging"]
    features = task_type("tagging")().featurize(examples, tokenizer, SETTINGS["tagging"])
    for ex, tags, firsts in zip(examples, features["token_tags"], features["first_token"]):
        assert sum(1 for t in tags if t) == len(ex["tokens"])
        assert [tags[p] for p in firsts] == ex["tags"]


def per_token_tagging_columns(examples, tokenizer, max_length):
    """Tagging's columns computed token by token, as featurize first did: the reference for its array version."""
    encoded = tokenizer([ex["tokens"] for ex in examples], is_split_into_words=True, truncation=True,
                        max_length=max_length)
    token_tags, first_token = [], []
    for i, ex in enumerate(examples):
        firsts, tags, previous = [-1] * len(ex["tokens"]), [""] * len(encoded["input_ids"][i]), None
        for position, word in enumerate(encoded.word_ids(i)):
            if word is not None and word != previous:
                firsts[word] = position
                tags[position] = ex["tags"][word] if ex.get("tags") else ""
            previous = word
        token_tags.append(tags)
        first_token.append(firsts)
    return {"input_ids": encoded["input_ids"], "token_tags": token_tags, "first_token": first_token}


@pytest.mark.parametrize("max_length", [5, 8, 64])
def test_tagging_features_equal_the_per_token_reference_and_survive_parquet(tokenizer, tmp_path, max_length):
    untagged = {"id": "t3", "tokens": ["Marco", "sells", "the", "blue", "car", "."]}  # a test set without labels
    empty_word = {"id": "t4", "tokens": ["Anna", "", "buys"], "tags": ["B-PER", "X", "O"]}  # no sub-words at all
    examples = EXAMPLES["tagging"] + [untagged, empty_word]
    task = task_type("tagging")()
    expected = per_token_tagging_columns(examples, tokenizer, max_length)
    assert task.featurize(examples, tokenizer, {"max_length": max_length}) == expected
    assert expected["first_token"][-1][1] == -1, "the empty word has no sub-word"
    if max_length == 5:
        assert -1 in expected["first_token"][0], "truncation cut words off"

    table = task.feature_table(examples, tokenizer, {"max_length": max_length})
    # Tags are stored as int32 ids into the file's own tag list, token ids as int32.
    assert table.schema.field("token_tags").type == pa.list_(pa.dictionary(pa.int32(), pa.string()))
    assert table.schema.field("input_ids").type == pa.list_(pa.int32())
    write_features(tmp_path / "tagging.parquet", table)
    read_back = read_features(tmp_path / "tagging.parquet")
    assert read_back == expected
    assert Tagging.labels_from(read_back) == Tagging.labels_from(expected)


def test_tagging_of_no_examples_is_an_empty_file(tokenizer, tmp_path):
    task = task_type("tagging")()
    write_features(tmp_path / "empty.parquet", task.feature_table([], tokenizer, SETTINGS["tagging"]))
    assert read_features(tmp_path / "empty.parquet") == {"input_ids": [], "token_tags": [], "first_token": []}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_model_round_trip_trains_and_decodes(name, tokenizer, pretrained, tmp_path):
    examples = EXAMPLES[name]
    features = task_type(name)(LABELS.get(name)).featurize(examples, tokenizer, SETTINGS[name])
    task = make_type(name, features)
    model = build_model(pretrained, {name: task})
    batch = task.collate(rows_of(features), tokenizer.pad_token_id)
    loss, _ = model(name, batch)
    assert torch.isfinite(loss)
    loss.backward()
    assert model.encoder.embeddings.word_embeddings.weight.grad.abs().sum() > 0

    # Save and reload: the head must come back identical, predictions too.
    save_checkpoint(model, tmp_path / "ckpt", {"note": "test"})
    reloaded = load_checkpoint(tmp_path / "ckpt")
    run = dict(metric=METRICS[name], lang="en", settings=SETTINGS[name], pad_id=tokenizer.pad_token_id,
               batch_size=2, device=torch.device("cpu"))
    first, scores = evaluate_split(model, name, task, features, examples, **run)
    second, _ = evaluate_split(reloaded, name, reloaded.task_types[name], features, examples, **run)
    assert first == second
    assert 0.0 <= scores["score"] <= 100.0


def test_bf16_checkpoint_is_half_the_size_and_loads_as_float32(tokenizer, pretrained, tmp_path):
    examples = EXAMPLES["classification"]
    task = make_type("classification")
    features = task.featurize(examples, tokenizer, SETTINGS["classification"])
    model = build_model(pretrained, {"c": task})
    save_checkpoint(model, tmp_path / "fp32", {})
    save_checkpoint(model, tmp_path / "bf16", {}, dtype=torch.bfloat16)
    size = lambda d: (d / "model.safetensors").stat().st_size
    assert size(tmp_path / "bf16") < 0.6 * size(tmp_path / "fp32")
    reloaded = load_checkpoint(tmp_path / "bf16")
    assert reloaded.encoder.embeddings.word_embeddings.weight.dtype == torch.float32
    run = dict(metric="accuracy", lang="en", settings={}, pad_id=tokenizer.pad_token_id, batch_size=4,
               device=torch.device("cpu"))
    assert evaluate_split(model, "c", task, features, examples, **run)[0] == \
        evaluate_split(reloaded, "c", reloaded.task_types["c"], features, examples, **run)[0]


def test_retrieval_finds_identical_sentences(tokenizer, pretrained):
    examples = [{"id": str(i), "src": text, "tgt": text} for i, text in enumerate(sorted(set(EXAMPLES_TEXTS)))]
    task = task_type("retrieval")()
    task.layer = 1
    features = task.featurize(examples, tokenizer, {"max_length": 32})
    model = build_model(pretrained, {})
    predictions, scores = evaluate_split(model, "tatoeba", task, features, examples, metric="tatoeba", lang="de",
                                         settings={}, pad_id=tokenizer.pad_token_id, batch_size=4,
                                         device=torch.device("cpu"))
    assert scores["score"] == 100.0
    assert len(predictions) == len(examples)


EXAMPLES_TEXTS = ["Anna buys 3 red apples .", "Marco sells the blue car in Rome .", "Кира видит 5 домов .",
                  "安娜买了3个苹果。", "The old man reads a long book ."]


@pytest.mark.parametrize("type_name, labels, metric, predictions, examples", [
    ("classification", ["yes", "no"], "accuracy",
     [{"id": "a", "prediction": "yes"}, {"id": "b", "prediction": "yes"}, {"id": "c", "prediction": "no"}],
     [{"id": "a", "label": "yes"}, {"id": "b", "label": "no"}, {"id": "c", "label": "no"}]),
    ("multiple_choice", None, "accuracy", [{"id": "a", "prediction": 1}, {"id": "b", "prediction": 0}],
     [{"id": "a", "label": 1}, {"id": "b", "label": 1}]),
    ("span_qa", None, "mlqa", [{"id": "a", "prediction": "the red car"}, {"id": "b", "prediction": "Paris"},
                               {"id": "c", "prediction": ""}],
     [{"id": "a", "answers": {"text": ["red car", "a car"], "answer_start": [0, 0]}},
      {"id": "b", "answers": {"text": ["Paris"], "answer_start": [0]}},
      {"id": "c", "answers": {"text": ["Rome"], "answer_start": [0]}}]),
    ("retrieval", None, "tatoeba", [{"id": "1", "prediction": "1"}, {"id": "2", "prediction": "1"}], []),
])
def test_example_scores_average_to_the_score(type_name, labels, metric, predictions, examples):
    """What the paired bootstrap of drops resamples must average to the metric it reports."""
    task = task_type(type_name)(labels)
    per_example = task.example_scores(predictions, examples, metric, "en")
    assert len(per_example) == len(predictions) and 0 < sum(per_example) < len(per_example)
    assert 100 * np.mean(per_example) == pytest.approx(task.score(predictions, examples, metric, "en")["score"])


def test_entity_f1_has_no_example_scores():
    task = task_type("tagging")(["O", "B-PER", "I-PER"])
    assert task.example_scores([{"id": "a", "prediction": ["B-PER"]}], [{"id": "a", "tags": ["B-PER"]}], "ner", "en") is None
