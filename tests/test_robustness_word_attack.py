"""Gradient-guided word substitution (HotFlip with whole vocabulary words; dictionary translations
for codeswitch_attack) on the shipped demo encoder with a fresh head: the words it may change, the
budget, the candidates it may use, and a search that does not depend on its batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xstilts import synthetic, tokenizer_file
from xstilts.modeling import build_model
from xstilts.robustness.noise import script_of
from xstilts.robustness.word_attack import (Vocabulary, WordAttack, attack_examples, segments, with_fields,
                                            word_attack_split)
from xstilts.tasks import task_type

ROOT = Path(__file__).resolve().parents[1]
ENCODER = ROOT / "pretrained" / "demo-tiny"
NLI = ["entailment", "neutral", "contradiction"]
SETTINGS = {"max_length": 64}


@pytest.fixture(scope="module")
def tokenizer():
    return tokenizer_file.load(ENCODER)


def classifier(type_name="classification"):
    task = task_type(type_name)(NLI if type_name == "classification" else None)
    torch.manual_seed(0)
    return build_model(ENCODER, {"t": task}), task


def nli(lang="en", n=16):
    return synthetic.generate("nli", split="test", lang=lang, n=n, seed=5, stream="hotflip")


def attack(model, task, examples, tokenizer, max_changes=2, batch_size=8, **options):
    return attack_examples(model, "t", task, examples, tokenizer, SETTINGS, WordAttack(max_changes, **options),
                           pad_id=model.encoder.config.pad_token_id, batch_size=batch_size,
                           device=torch.device("cpu"))


def changed_words(before: str, after: str) -> list[tuple[str, str]]:
    old = [p for p, word in segments(before) if word]
    new = [p for p, word in segments(after) if word]
    assert len(old) == len(new), (before, after)
    return [(a, b) for a, b in zip(old, new) if a != b]


def test_words_keep_their_punctuation_and_digits_and_protected_spans_are_frozen():
    text = "Anna, 3 Äpfel."
    pieces = segments(text, protected=[(0, 4)])
    assert "".join(p for p, _ in pieces) == text
    assert [p for p, word in pieces if word] == ["Äpfel"]
    assert [p for p, word in segments("安娜买了苹果。") if word] == list("安娜买了苹果")  # a character each


def test_the_vocabulary_holds_whole_words_of_one_script(tokenizer):
    vocabulary = Vocabulary(tokenizer)
    assert "Latin" in vocabulary.words and "Han" in vocabulary.words and "Cyrillic" in vocabulary.words
    for script, words in vocabulary.words.items():
        assert all({script_of(c) for c in word} == {script} for word in words), script
    assert all(len(word) == 1 for word in vocabulary.words["Han"])
    pieces = tokenizer.backend.get_vocab()
    assert all(f"▁{word}" in pieces for word in vocabulary.words["Latin"])  # word starts only


def rebuilt(example: dict, changes: list[dict], field: str) -> str:
    """The field's text with the recorded changes made to its segments (protected ones frozen)."""
    pieces = segments(example[field], [tuple(span) for span in example["protected"].get(field, ())])
    for change in (c for c in changes if c["field"] == field):
        piece, is_word = pieces[change["word"]]
        assert is_word and piece == change["before"], change  # never a frozen piece (digits, protected)
        pieces[change["word"]] = (change["after"], True)
    return "".join(piece for piece, _ in pieces)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_adversarial_text_changes_at_most_the_budget_through_words_of_the_same_script(tokenizer, lang):
    model, task = classifier()
    examples = nli(lang)
    vocabulary = Vocabulary(tokenizer)
    for budget in (1, 3):
        found = attack(model, task, examples, tokenizer, max_changes=budget)
        for example, adversarial in zip(examples, found):
            changes = adversarial["changes"]
            assert len(changes) <= budget and len({(c["field"], c["word"]) for c in changes}) == len(changes)
            for field in ("text_a", "text_b"):
                assert rebuilt(example, changes, field) == adversarial[field]
            for change in changes:
                script = script_of(change["before"][0])
                assert change["after"] in vocabulary.words[script] and script_of(change["after"][0]) == script
        assert any(ex["changes"] for ex in found)


def test_the_batched_search_makes_the_texts_of_the_one_example_search(tokenizer):
    model, task = classifier()
    examples = nli("de", n=8)
    together = attack(model, task, examples, tokenizer, max_changes=3, batch_size=8)
    for example, batched in zip(examples, together):
        [alone] = attack(model, task, [example], tokenizer, max_changes=3, batch_size=1)
        assert (alone["text_a"], alone["text_b"]) == (batched["text_a"], batched["text_b"]), example["id"]


def test_a_larger_budget_extends_the_same_path(tokenizer):
    model, task = classifier()
    examples = nli("en", n=8)
    paths = {budget: attack(model, task, examples, tokenizer, max_changes=budget) for budget in (1, 2, 4)}
    for small, large in ((1, 2), (2, 4)):
        for a, b in zip(paths[small], paths[large]):
            assert b["changes"][:len(a["changes"])] == a["changes"]


def test_dictionary_candidates_are_the_words_translations_only(tokenizer):
    model, task = classifier()
    examples = nli("en")
    words = {p for ex in examples for field in ("text_a", "text_b") for p, word in segments(ex[field]) if word}
    dictionaries = {"de": {w: [w.upper() + "x"] for w in sorted(words)}, "ru": {w: ["книга"] for w in sorted(words)[:3]}}
    found = attack_examples(model, "t", task, examples, tokenizer, SETTINGS, WordAttack(3, candidates="dictionary"),
                            pad_id=model.encoder.config.pad_token_id, batch_size=4, device=torch.device("cpu"),
                            dictionaries=dictionaries)
    changes = [change for ex in found for change in ex["changes"]]
    assert changes and all(change["after"] in dictionaries["de"][change["before"]]
                           + dictionaries["ru"].get(change["before"], []) for change in changes)


def test_multiple_choice_contexts_and_endings_are_attacked(tokenizer):
    model, task = classifier("multiple_choice")
    examples = synthetic.generate("multiple_choice", split="test", lang="en", n=12, seed=5, stream="hotflip")
    found = attack(model, task, examples, tokenizer, max_changes=2)
    assert all(len(ex["changes"]) <= 2 for ex in found) and any(ex["changes"] for ex in found)
    fields = {change["field"] for ex in found for change in ex["changes"]}
    assert fields <= {"context", *[f"choices/{i}" for i in range(4)]}
    rebuilt = with_fields(examples[0], {"choices/1": "x"})
    assert rebuilt["choices"][1] == "x" and examples[0]["choices"][1] != "x"


def test_a_split_under_attack_records_each_adversarial_example(tokenizer):
    model, task = classifier()
    examples = nli("en", n=6)
    features = task.featurize(examples, tokenizer, SETTINGS)
    records, metrics = word_attack_split(model, "t", task, features, examples, WordAttack(2), tokenizer=tokenizer,
                                         metric="accuracy", lang="en", settings=SETTINGS, pad_id=1, batch_size=4,
                                         device=torch.device("cpu"), max_examples=5)
    assert len(records) == 5 and all({"adversarial", "changes", "success", "clean_prediction"} <= set(r) for r in records)
    assert all(set(r["adversarial"]) == set(examples[0]) - {"protected"} for r in records)
    assert metrics["success_rate"] == pytest.approx(100.0 * sum(r["success"] for r in records) / 5)
    assert metrics["mean_size"] == pytest.approx(sum(len(r["changes"]) for r in records) / 5)
    assert metrics["forward_passes"] >= 3 and metrics["score"] <= metrics["clean_score"] + 1e-9
