"""Noise perturbations (xstilts.robustness): deterministic, rate 0 is clean, and what an example is
scored on (labels, digits, tags and their entities, answer strings) survives, checked on the
embedded benchmark's examples by readers that do not use the perturbation code."""

import random
import re

import pytest

from xstilts.robustness.examples import perturb_example
from xstilts.robustness.noise import alphabets, char_noise, script_of, units, word_noise
from xstilts.synthetic import generate

KINDS = ("char_noise", "word_noise")
SETS = {  # task type -> (generator kind, stream)
    "classification": ("nli", "xnli"), "tagging": ("ner", "panx"), "span_qa": ("span_qa", "xquad"),
    "multiple_choice": ("multiple_choice", "xcopa"), "retrieval": ("parallel", "tatoeba"),
}


def rows(task_type, lang, n=80):
    kind, stream = SETS[task_type]
    return generate(kind, split="test", lang=lang, n=n, seed=7, stream=stream)


def alphabet_of(lang):
    texts = [row["text"] for row in generate("corpus", split="train", lang=lang, n=300, seed=7, stream="corpus")]
    return alphabets(texts)


def perturbed(task_type, lang, kind, rate, seed=1, n=80):
    rng, alphabet = random.Random(seed), alphabet_of(lang)
    return [perturb_example(row, task_type, kind, rate, rng, alphabet) for row in rows(task_type, lang, n)]


def without_changes(row):
    """An example as its task reads it: without what a perturbation records, nor the generator's marks."""
    return {key: value for key, value in row.items() if key not in ("changes", "protected")}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("task_type", list(SETS))
def test_rate_zero_is_clean_and_a_seed_fixes_the_output(task_type, kind):
    lang = "ru" if task_type == "retrieval" else "en"
    assert [without_changes(row) for row in perturbed(task_type, lang, kind, 0.0)] == list(
        map(without_changes, rows(task_type, lang)))
    first, again = perturbed(task_type, lang, kind, 0.3), perturbed(task_type, lang, kind, 0.3)
    assert first == again
    other = perturbed(task_type, lang, kind, 0.3, seed=2)
    assert [without_changes(row) for row in first] != [without_changes(row) for row in other]
    assert [without_changes(row) for row in first] != list(map(without_changes, rows(task_type, lang)))


@pytest.mark.parametrize("lang", ["en", "ru", "ar", "zh"])
@pytest.mark.parametrize("kind", KINDS)
def test_pair_labels_and_numbers_stay(kind, lang):
    for clean, row in zip(rows("classification", lang), perturbed("classification", lang, kind, 0.4)):
        assert row["label"] == clean["label"]
        for field in ("text_a", "text_b"):
            assert sorted(re.findall(r"\d+", row[field])) == sorted(re.findall(r"\d+", clean[field]))


def test_recorded_changes_name_what_was_there():
    for kind in KINDS:
        for clean, row in zip(rows("classification", "de"), perturbed("classification", "de", kind, 0.4)):
            for field in ("text_a", "text_b"):
                for change in row["changes"][field]:
                    before = change["before"] if isinstance(change["before"], str) else change["before"][0]
                    assert clean[field][change["start"]:change["start"] + len(before)] == before


@pytest.mark.parametrize("lang", ["ru", "ar", "zh"])
def test_new_characters_come_from_the_word_s_own_script(lang):
    rng, alphabet = random.Random(3), alphabet_of(lang)
    seen_ops = set()
    for row in rows("classification", lang):
        text, changes = char_noise(row["text_a"], 0.6, rng, alphabet=alphabet)
        for change in changes:
            seen_ops.add(change["op"])
            scripts = {script_of(char) for char in change["before"] if script_of(char)}
            new = {script_of(char) for char in change["after"] if script_of(char)}
            assert new <= scripts, change
    assert seen_ops == {"swap", "delete", "insert", "substitute"} or lang == "zh"


def test_devanagari_stays_devanagari():
    text = "राम ने किताब खरीदी और सीता ने फूल देखे"
    alphabet = alphabets([text, "Latin letters too"])
    for seed in range(20):
        noisy, changes = char_noise(text, 0.8, random.Random(seed), alphabet=alphabet)
        assert changes and all(script_of(char) in ("Devanagari", None) for char in noisy if not char.isspace())


def test_unspaced_scripts_count_characters_as_units():
    text = "Anna在Paris买书。"
    assert [text[start:end] for start, end in units(text)] == ["Anna", "在", "Paris", "买", "书", "。"]
    noisy, changes = word_noise("我买了三本书。", 1.0, random.Random(0))
    assert changes and " " not in noisy


def entities(tokens, tags):
    """(words, type) of each entity, read off a sequence that must be valid IOB2."""
    found, current = [], None
    for token, tag in zip(tokens, tags):
        if tag.startswith("B-"):
            current = [[token], tag[2:]]
            found.append(current)
        elif tag.startswith("I-"):
            assert current is not None and current[1] == tag[2:], (tokens, tags)  # valid IOB2
            current[0].append(token)
        else:
            current = None
    return [(" ".join(words), kind) for words, kind in found]


@pytest.mark.parametrize("lang", ["en", "ar", "zh"])
def test_word_noise_keeps_iob2_and_every_entity(lang):
    edited = 0
    for clean, row in zip(rows("tagging", lang), perturbed("tagging", lang, "word_noise", 0.5)):
        assert len(row["tokens"]) == len(row["tags"])
        assert entities(row["tokens"], row["tags"]) == entities(clean["tokens"], clean["tags"])
        edited += row["tokens"] != clean["tokens"]
    assert edited > 20


def test_char_noise_keeps_one_tag_per_token():
    for clean, row in zip(rows("tagging", "ru"), perturbed("tagging", "ru", "char_noise", 0.5)):
        assert row["tags"] == clean["tags"] and len(row["tokens"]) == len(clean["tokens"])
        assert all(row["tokens"])


@pytest.mark.parametrize("lang", ["en", "de", "zh"])
@pytest.mark.parametrize("kind", KINDS)
def test_answers_stay_the_same_strings_at_their_new_offsets(kind, lang):
    moved = 0
    for clean, row in zip(rows("span_qa", lang), perturbed("span_qa", lang, kind, 0.4)):
        for text, start, old in zip(row["answers"]["text"], row["answers"]["answer_start"],
                                    clean["answers"]["answer_start"]):
            assert row["context"][start:start + len(text)] == text
            moved += start != old
    assert moved > 5


def test_overlapping_answers_move_together():
    example = {"id": "x", "question": "Who buys it ?", "context": "Yesterday in the big city Anna Smith buys a book .",
               "answers": {"text": ["Anna Smith", "Anna", "Smith buys"], "answer_start": [26, 26, 31]}}
    for seed in range(10):
        row = perturb_example(example, "span_qa", "word_noise", 0.9, random.Random(seed), {})
        for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"]):
            assert row["context"][start:start + len(text)] == text


def test_retrieval_perturbs_the_non_english_side_only():
    for clean, row in zip(rows("retrieval", "ru"), perturbed("retrieval", "ru", "char_noise", 0.5)):
        assert row["tgt"] == clean["tgt"]


def test_an_unknown_kind_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown noise kind 'typo'; expected one of: char_noise, word_noise, codeswitch"):
        perturb_example(rows("classification", "en", 1)[0], "classification", "typo", 0.1, random.Random(0), {})
