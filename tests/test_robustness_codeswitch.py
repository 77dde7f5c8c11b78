"""Dictionary code-switching (xstilts.robustness.codeswitch): MUSE-format files read and refused
by line, missing pairs named, only dictionary entries switched, and the generator's dictionaries
checked against its lexicon."""

import random

import pytest

from xstilts import synthetic as syn
from xstilts.robustness.codeswitch import (codeswitch, load_dictionaries, read_dictionary, synthetic_dictionaries,
                                           write_dictionaries)

SEED = 7
LEX = syn.lexicon(SEED).words


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("dictionaries")
    write_dictionaries(path, SEED)
    return path


def texts(lang, n=60):
    return [row["text_a"] for row in syn.generate("nli", split="test", lang=lang, n=n, seed=SEED, stream="xnli")]


def test_missing_pairs_are_named_and_skipped(folder):
    found, missing = load_dictionaries(folder, "en", ["de", "zh", "sw"])
    assert sorted(found) == ["de", "zh"] and missing == ["en-sw"]


def test_a_malformed_line_is_refused_with_its_file_and_number(tmp_path):
    path = tmp_path / "en-de.txt"
    path.write_text("book Buch\nred\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"en-de.txt, line 2: expected 'source target'"):
        read_dictionary(path)


@pytest.mark.parametrize("src", ["en", "ru", "zh"])
def test_only_dictionary_entries_are_switched(folder, src):
    dictionaries, _ = load_dictionaries(folder, src, [lang for lang in syn.LANGUAGES if lang != src])
    rng, switched = random.Random(0), 0
    for text in texts(src):
        noisy, changes, share = codeswitch(text, 0.5, rng, dictionaries=dictionaries)
        for change in changes:
            assert change["after"] in dictionaries[change["lang"]][change["before"]]
            assert text[change["start"]:change["start"] + len(change["before"])] == change["before"]
        assert all(name in noisy for name in ("San Diego",) if name in text)
        switched += len(changes)
        assert 0 <= share <= 1
    assert switched > 30


def test_rate_zero_is_clean_and_the_seed_decides(folder):
    dictionaries, _ = load_dictionaries(folder, "en", ["de", "ar"])
    for text in texts("en", 20):
        assert codeswitch(text, 0.0, random.Random(0), dictionaries=dictionaries)[0] == text
    run = [codeswitch(text, 0.4, random.Random(1), dictionaries=dictionaries)[0] for text in texts("en", 20)]
    assert run == [codeswitch(text, 0.4, random.Random(1), dictionaries=dictionaries)[0] for text in texts("en", 20)]


def test_translations_are_forms_of_the_same_concept():
    dictionaries = synthetic_dictionaries(SEED)
    for noun in syn.NOUNS:
        for form in (noun, noun + "s"):
            assert LEX["zh"][noun] in dictionaries[("en", "zh")][form]
            assert all(t.startswith(LEX["ru"][noun]) for t in dictionaries[("en", "ru")][form])
            assert all(LEX["ar"][noun] in t for t in dictionaries[("en", "ar")][form])
    for verb, (third, _) in syn.VERBS.items():
        assert all(t.startswith(LEX["ru"][verb]) for t in dictionaries[("en", "ru")][third])


def test_chinese_words_are_switched_whole(folder):
    dictionaries, _ = load_dictionaries(folder, "zh", ["en"])
    words = set(LEX["zh"].values())
    changes = [change for text in texts("zh") for change in codeswitch(text, 1.0, random.Random(0),
                                                                        dictionaries=dictionaries)[1]]
    assert changes and all(change["before"] in words for change in changes)
    assert any(len(change["before"]) == 2 for change in changes)


def test_protected_spans_and_numbers_stay(folder):
    dictionaries, _ = load_dictionaries(folder, "en", ["de"])
    text = "Anna buys 3 red books in Paris ."
    noisy, changes, _ = codeswitch(text, 1.0, random.Random(0), dictionaries=dictionaries, protected=[(14, 21)])
    assert "red books" in noisy and " 3 " in noisy and [c["before"] for c in changes] == ["buys"]


@pytest.mark.parametrize("task_type,kind,stream", [("classification", "nli", "xnli"), ("tagging", "ner", "panx"),
                                                   ("span_qa", "span_qa", "xquad")])
def test_examples_of_every_type_keep_labels_tags_and_answers_when_switched(task_type, kind, stream):
    from xstilts.robustness.examples import perturb_example

    dictionaries = {tgt: entries for (src, tgt), entries in synthetic_dictionaries(SEED).items() if src == "ru"}
    rows = syn.generate(kind, split="test", lang="ru", n=60, seed=SEED, stream=stream)
    rng, switched = random.Random(0), 0
    for clean in rows:
        row = perturb_example(clean, task_type, "codeswitch", 0.5, rng, dictionaries=dictionaries)
        switched += sum(len(edits) for edits in row["changes"].values())
        if task_type == "classification":
            assert row["label"] == clean["label"]
        elif task_type == "tagging":
            assert row["tags"] == clean["tags"] and len(row["tokens"]) == len(clean["tokens"])
        else:
            for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"]):
                assert row["context"][start:start + len(text)] == text
    assert switched > 20
