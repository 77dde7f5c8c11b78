"""Translated test sets as parallel sets (xstilts.alignment.translated): each sentence field of an
example paired with its English original by example id, repeated and empty sentences left out,
chosen on the clean sets so that every condition pairs the same sentences."""

from __future__ import annotations

import pytest
import torch

from xstilts.alignment import stage
from xstilts.alignment.translated import chosen_sentences, parallel_examples, translated_pairs
from xstilts.features import load_tokenizer
from xstilts.io import write_jsonl

from helpers import tiny_pretrained

FIELDS = ("text_a", "text_b")


def nli(key, premise, hypothesis):
    return {"id": key, "text_a": premise, "text_b": hypothesis, "label": "neutral"}


ENGLISH = [nli("1", "A man sleeps .", "He is asleep ."), nli("2", "A man sleeps .", "He is awake ."),
           nli("3", "Dogs bark .", ""), nli("4", "Cats purr .", "They are happy .")]
GERMAN = [nli("4", "Katzen schnurren .", "Sie sind froh ."), nli("2", "Ein Mann schläft .", "Er ist wach ."),
          nli("1", "Ein Mann schläft .", "Er schläft ."), nli("3", "Hunde bellen .", "Sie bellen .")]


def test_each_sentence_is_paired_with_its_english_original_by_id_once():
    """XNLI repeats a premise for each hypothesis: it is paired once (a repeat would be a second right
    answer); an empty side is no pair; the other language's order does not matter."""
    chosen = chosen_sentences(ENGLISH, GERMAN, FIELDS, where="test")
    assert chosen == [("1", "text_a"), ("1", "text_b"), ("2", "text_b"), ("3", "text_a"), ("4", "text_a"),
                      ("4", "text_b")]
    pairs = parallel_examples(chosen, ENGLISH, GERMAN, where="test")
    assert pairs[0] == {"id": "1/text_a", "src": "Ein Mann schläft .", "tgt": "A man sleeps ."}
    assert pairs[2] == {"id": "2/text_b", "src": "Er ist wach .", "tgt": "He is awake ."}
    assert chosen_sentences(ENGLISH, GERMAN, ("text_b",), where="test") == [("1", "text_b"), ("2", "text_b"),
                                                                            ("4", "text_b")]


def test_a_perturbed_copy_supplies_the_texts_of_the_pairs_chosen_on_the_clean_sets():
    chosen = chosen_sentences(ENGLISH, GERMAN, FIELDS, where="test")
    noisy = [{**ex, "text_a": ex["text_a"].upper(), "text_b": ex["text_b"].upper()} for ex in GERMAN]
    pairs = parallel_examples(chosen, ENGLISH, noisy, where="test")
    assert [p["id"] for p in pairs] == [f"{key}/{field}" for key, field in chosen]
    assert pairs[0]["src"] == "EIN MANN SCHLÄFT ." and pairs[0]["tgt"] == "A man sleeps ."
    with pytest.raises(ValueError, match=r"noisy\.jsonl: 2 chosen examples are not in this copy .*first: '1'"):
        parallel_examples(chosen, ENGLISH, noisy[:2], where="noisy.jsonl")


@pytest.mark.parametrize("other, message", [
    ([nli("9", "x", "y")], "no example id is shared with the English set"),
    ([nli("1", "x", "y"), nli("1", "z", "w")], "the id '1' is on two examples"),
    ([{"text_a": "x", "text_b": "y"}], "example 1 has no id"),
])
def test_sets_that_cannot_be_paired_are_refused_by_name(other, message):
    with pytest.raises(ValueError, match=f"de.jsonl: {message}"):
        chosen_sentences(ENGLISH, other, FIELDS, where="de.jsonl")


def test_a_translated_set_aligned_with_itself_scores_perfectly_and_its_noise_is_measured_on_the_same_pairs(tmp_path):
    """The alignment stage reads a translated set from the examples files: a German side identical
    to English retrieves every sentence at every layer; under a condition whose German side is
    perturbed, the same pairs are measured and retrieval falls."""
    model_dir = tiny_pretrained(tmp_path / "xlmr", hidden_size=32, layers=2)
    english = [nli(str(i), f"sentence number {i} about {w}", f"another claim {i} on {w}")
               for i, w in enumerate(["cats", "dogs", "birds", "fish", "trees", "rivers", "cars", "songs"])]
    scrambled = [{**ex, "text_a": ex["text_a"][::-1], "text_b": ex["text_b"][::-1]} for ex in english]
    for name, rows in (("en", english), ("de", english), ("de_noisy", scrambled)):
        write_jsonl(tmp_path / f"{name}.jsonl", rows)

    def files(other):
        return {"fields": list(FIELDS), "english": str(tmp_path / "en.jsonl"), "other": str(tmp_path / other),
                "english_clean": str(tmp_path / "en.jsonl"), "other_clean": str(tmp_path / "de.jsonl"),
                "tokenizer": str(model_dir), "settings": {"max_length": 32}}

    features = stage.parallel_features(files("de.jsonl"))
    assert sorted(set(features["line_id"])) == sorted(f"{i}/{f}" for i in range(8) for f in FIELDS)
    tokenizer = load_tokenizer(model_dir)
    first = features["line_id"].index("3/text_b")
    assert features["input_ids"][first] == tokenizer(english[3]["text_b"], truncation=True, max_length=32)["input_ids"]
    assert translated_pairs(files("de_noisy.jsonl"))[0] == {"id": "0/text_a", "src": english[0]["text_a"][::-1],
                                                            "tgt": english[0]["text_a"]}
    records, _ = stage.measure_checkpoint(model_dir, {"xnli": {"clean": {"de": files("de.jsonl")},
                                                               "noisy": {"de": files("de_noisy.jsonl")}}},
                                          device=torch.device("cpu"), batch_size=8, bf16=False)
    clean = [r for r in records if r["condition"] == "clean"]
    noisy = [r for r in records if r["condition"] == "noisy"]
    assert len(clean) == len(noisy) == 3 and {r["sentences"] for r in records} == {16}
    assert all(r["retrieval_en_to_xx"] == r["retrieval_xx_to_en"] == 100.0 for r in clean)
    assert all(r["cka"] == pytest.approx(1.0) for r in clean)
    assert any(r["retrieval_en_to_xx"] < 100.0 for r in noisy)
