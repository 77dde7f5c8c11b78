"""Translated test sets as parallel sets. XNLI, PAWS-X and XQuAD (and the demo's test sets) are
one set of examples translated into every language under the same ids, so each sentence field of an
example (xstilts.config.SENTENCE_FIELDS: a classification pair's two texts, a QA question) and its
English original form a translation pair: the set becomes a Tatoeba-like set, `{id, src, tgt}`
with src the other language, tokenized and pooled as the retrieval benchmarks are.

Which sentences enter is decided on the clean sets alone, so that every condition pairs the same
sentences and a measure's change under perturbation is paired sentence by sentence: a pair is kept
where both texts are non-empty and each is the first of its side with that text (XNLI gives each
premise three hypotheses; a repeated sentence would be a second right answer that retrieval counts
as wrong). A perturbed condition then reads the same example and field from the benchmark's
perturbed set, on the side or sides the perturbation edits."""

from __future__ import annotations

from ..io import read_jsonl


def by_id(examples: list[dict], where: str) -> dict[str, dict]:
    """A set's examples by id; ids must be there and unique (they pair the languages)."""
    found = {}
    for number, example in enumerate(examples, 1):
        if example.get("id") is None:
            raise ValueError(f"{where}: example {number} has no id, and a translated set is paired by id")
        key = str(example["id"])
        if key in found:
            raise ValueError(f"{where}: the id '{key}' is on two examples, and a translated set is paired by id")
        found[key] = example
    return found


def chosen_sentences(english: list[dict], other: list[dict], fields: tuple[str, ...], *,
                     where: str) -> list[tuple[str, str]]:
    """(example id, field) of every sentence pair kept, in the English set's order: the example is
    in both sets, both texts are non-empty, and each is the first of its side with that text."""
    others = by_id(other, where)
    seen_english, seen_other, chosen = set(), set(), []
    for key, example in by_id(english, where).items():
        if key not in others:
            continue
        for field in fields:
            texts = (example.get(field) or "").strip(), (others[key].get(field) or "").strip()
            if texts[0] and texts[1] and texts[0] not in seen_english and texts[1] not in seen_other:
                chosen.append((key, field))
            seen_english.add(texts[0])
            seen_other.add(texts[1])
    if not chosen:
        raise ValueError(f"{where}: no example id is shared with the English set, so there is no translation pair")
    return chosen


def parallel_examples(chosen: list[tuple[str, str]], english: list[dict], other: list[dict], *,
                      where: str) -> list[dict]:
    """The chosen pairs in the retrieval schema, their texts taken from `english` and `other` (clean
    or perturbed copies of the sets they were chosen on)."""
    english_by_id, other_by_id = by_id(english, where), by_id(other, where)
    missing = list(dict.fromkeys(key for key, _ in chosen if key not in english_by_id or key not in other_by_id))
    if missing:
        raise ValueError(f"{where}: {len(missing)} chosen examples are not in this copy of the set "
                         f"(first: '{missing[0]}'), so it is not a copy of the clean set")
    return [{"id": f"{key}/{field}", "src": other_by_id[key][field], "tgt": english_by_id[key][field]}
            for key, field in chosen]


def translated_pairs(source: dict) -> list[dict]:
    """One language's parallel set under one condition. `source`: the sentence `fields` paired
    (xstilts.config.SENTENCE_FIELDS), and the examples files `english`, `other` (the condition's) and
    `english_clean`, `other_clean` (where the pairs are chosen)."""
    where = f"translated set {source['other']}"
    fields = tuple(source["fields"])
    chosen = chosen_sentences(read_jsonl(source["english_clean"]), read_jsonl(source["other_clean"]), fields,
                              where=where)
    return parallel_examples(chosen, read_jsonl(source["english"]), read_jsonl(source["other"]), where=where)
