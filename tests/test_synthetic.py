"""The embedded benchmark: determinism, cross-lingual structure, and labels checked by oracles.

The oracles below read the English text with their own small parser, using only the public word
lists (and, for Chinese, the public lexicon), and recompute each label from the text alone.
"""

import re
from collections import Counter

import pytest

from xstilts import synthetic as syn
from xstilts.synthetic import generate, label_names

SEED = 7
THIRD_TO_BASE = {third: base for base, (third, _) in syn.VERBS.items()}
PARTNER = {base: partner for base, (_, partner) in syn.VERBS.items()}
PLURAL_TO_NOUN = {noun + "s": noun for noun in syn.NOUNS}
ANCHORS = set(syn.FIRST_NAMES) | set(syn.SURNAMES) | {word for place in syn.PLACES for word in place.split()}
HELD_OUT = {name for pool in syn.held_out_names(SEED).values() for name in pool}  # the tagging tasks' names


def make(kind, lang="en", n=60, split="train", stream=None, seed=SEED, **options):
    return generate(kind, split=split, lang=lang, n=n, seed=seed, stream=stream or kind, **options)


# ---------------------------------------------------------------- an English reader


def parse_noun_phrase(words):
    """[the|a|an|count] [adjective] noun -> (noun, number, adjective); number is 'the', 1, 'bare' or a count."""
    words = list(words)
    number = "bare"
    if words[0] in ("the", "a", "an"):
        number = "the" if words.pop(0) == "the" else 1
    elif words[0].isdigit():
        number = int(words.pop(0))
    adjective = words.pop(0) if words[0] in syn.ADJECTIVES else None
    (noun_word,) = words
    plural = noun_word in PLURAL_TO_NOUN
    noun = PLURAL_TO_NOUN.get(noun_word, noun_word)
    assert noun in syn.NOUNS, noun_word
    assert plural == (number == "bare" or isinstance(number, int) and number >= 2), words
    return noun, number, adjective


def parse_clause(words):
    words = list(words)
    place = None
    if words[0] == "In":
        comma = words.index(",")
        place, words = " ".join(words[1:comma]), words[comma + 1:]
    first = words.pop(0)
    assert first in syn.FIRST_NAMES or first in HELD_OUT, first
    last = words.pop(0) if words[0] in syn.SURNAMES or words[0] in HELD_OUT else None
    negated = words[0] == "does"
    if negated:
        assert words[1] == "not" and words[2] in syn.VERBS
        verb, words = words[2], words[3:]
    else:
        verb, words = THIRD_TO_BASE[words[0]], words[1:]
    if "in" in words:
        at = words.index("in")
        place, words = " ".join(words[at + 1:]), words[:at]
    assert place is None or place in syn.PLACES or set(place.split()) <= HELD_OUT, place
    noun, number, adjective = parse_noun_phrase(words)
    return {"subject": (first, last), "verb": verb, "negated": negated, "obj": noun, "number": number,
            "adjective": adjective, "place": place}


def parse_sentence(text):
    words = text.split()
    assert words[-1] == ".", text
    clauses, current = [], []
    for word in words[:-1]:
        if word == "and":
            clauses.append(current)
            current = []
        else:
            current.append(word)
    return [parse_clause(clause) for clause in clauses + [current]]


def frozen(clause):
    return tuple(sorted(clause.items()))


def nli_oracle(premise_text, hypothesis_text):
    """Entailment under the benchmark's stated semantics, recomputed from the two texts."""
    premise = parse_sentence(premise_text)
    (h,) = parse_sentence(hypothesis_text)
    assert not any(p["negated"] for p in premise)
    matches = [p for p in premise if p["subject"] == h["subject"] and p["obj"] == h["obj"]]
    if not matches:
        return "neutral"  # about another object (or person): nothing said about it
    (p,) = matches
    if h["verb"] not in (p["verb"], PARTNER[p["verb"]]):
        return "neutral"  # an unrelated verb
    for slot in ("adjective", "place"):
        assert h[slot] in (None, p[slot]) or p[slot] is None, "modifier conflict is never generated"
    added = [slot for slot in ("adjective", "place") if h[slot] and not p[slot]]
    dropped_count = h["number"] == "bare" and isinstance(p["number"], int) and p["number"] >= 2
    count_conflict = isinstance(h["number"], int) and isinstance(p["number"], int) and h["number"] != p["number"]
    assert h["number"] == p["number"] or dropped_count or count_conflict, (premise_text, hypothesis_text)
    identical = all(h[slot] == p[slot] for slot in ("adjective", "place", "number"))
    if h["verb"] == p["verb"] and not h["negated"]:
        assert not (count_conflict and added)
        return "contradiction" if count_conflict else "neutral" if added else "entailment"
    if h["verb"] == p["verb"]:
        assert not count_conflict
        return "neutral" if added else "contradiction"
    assert identical, "a partner verb is only used on the same frame"
    return "entailment" if h["negated"] else "contradiction"


def content_words(text):
    return Counter(word for word in text.split() if word in syn.VERBS or word in THIRD_TO_BASE
                   or word in syn.ADJECTIVES or word in syn.NOUNS or word in PLURAL_TO_NOUN or word in ANCHORS
                   or word.isdigit())


def anchors_of(text):
    """Names, places and numbers: written alike in every language."""
    return sorted(word for word in re.findall(r"[A-Za-z]+", text) if word in ANCHORS), sorted(re.findall(r"\d+", text))


# ---------------------------------------------------------------- API, determinism, errors


def test_public_constants_and_label_sets():
    assert syn.LANGUAGES == ("en", "de", "ru", "ar", "zh")
    assert set(syn.KINDS) == {"corpus", "nli", "paraphrase", "span_qa", "multiple_choice", "ccg", "pos", "ner",
                              "parallel", "mining"}
    assert label_names("nli") == ["entailment", "neutral", "contradiction"]
    assert label_names("paraphrase") == ["not_paraphrase", "paraphrase"]
    assert {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"} <= set(label_names("ner"))
    assert {"PROPN", "VERB", "NOUN", "ADJ", "NUM", "DET", "ADP", "PART", "PUNCT"} <= set(label_names("pos"))
    assert {"NP", r"(S\NP)/NP", "NP/N", "N/N", "N", "."} <= set(label_names("ccg"))
    assert label_names("span_qa") == []


@pytest.mark.parametrize("kind", syn.KINDS)
def test_same_arguments_same_output_and_exact_count(kind):
    lang = "en" if kind == "ccg" else "de"
    first, again = make(kind, lang, n=40), make(kind, lang, n=40)
    assert first == again
    gold = [row for row in first if kind != "mining" or (row["src"] and row["tgt"])]
    assert len(gold) == 40
    assert len({row["id"] for row in first}) == len(first)
    assert make(kind, lang, n=40, seed=SEED + 1) != first


@pytest.mark.parametrize("kind", ["nli", "span_qa", "pos", "parallel", "corpus"])
def test_a_shorter_request_is_a_prefix(kind):
    assert make(kind, "ru", n=7) == make(kind, "ru", n=30)[:7]


def test_streams_draw_different_facts():
    mnli, xnli = make("nli", n=50, stream="mnli"), make("nli", n=50, stream="xnli")
    assert sum(a["text_a"] == b["text_a"] for a, b in zip(mnli, xnli)) <= 2
    assert make("span_qa", n=20, stream="xquad")[0]["context"] != make("span_qa", n=20, stream="mlqa")[0]["context"]


def test_ids_name_stream_split_and_index():
    assert [row["id"] for row in make("nli", n=3, split="dev", stream="xnli")] == ["xnli-dev-0", "xnli-dev-1",
                                                                                   "xnli-dev-2"]


@pytest.mark.parametrize("call, bad", [
    (dict(kind="sentiment"), "sentiment"),
    (dict(lang="fr"), "fr"),
    (dict(split="valid"), "valid"),
    (dict(colour_rate=0.1), "colour_rate"),
    (dict(kind="nli", context_sentences=3), "context_sentences"),
    (dict(kind="span_qa", context_sentences=0), "context_sentences"),
    (dict(kind="parallel", lang="en"), "en"),
    (dict(kind="mining", lang="en"), "en"),
    (dict(kind="ccg", lang="de"), "de"),
])
def test_bad_arguments_raise_naming_the_value(call, bad):
    arguments = dict(kind="nli", split="train", lang="en", n=3, seed=SEED, stream="s") | call
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        generate(**arguments)


def test_label_names_rejects_unknown_kind():
    with pytest.raises(ValueError, match="'sentiment'"):
        label_names("sentiment")


# ---------------------------------------------------------------- cross-lingual structure


@pytest.mark.parametrize("kind, field", [("nli", "text_a"), ("nli", "text_b"), ("span_qa", "context"),
                                         ("multiple_choice", "context"), ("paraphrase", "text_b")])
def test_eval_sets_are_translations_sharing_ids_labels_and_anchors(kind, field):
    english = make(kind, "en", n=80, split="test", stream="x" + kind)
    for lang in ("de", "ru", "ar", "zh"):
        other = make(kind, lang, n=80, split="test", stream="x" + kind)
        assert [row["id"] for row in other] == [row["id"] for row in english]
        assert [row.get("label") for row in other] == [row.get("label") for row in english]
        for en_row, row in zip(english, other):
            assert anchors_of(row[field]) == anchors_of(en_row[field]), (en_row[field], row[field])
            assert row[field] != en_row[field]


def test_corpora_are_not_parallel():
    english, german = make("corpus", "en", n=200), make("corpus", "de", n=200)
    same_anchors = sum(anchors_of(a["text"]) == anchors_of(b["text"]) for a, b in zip(english, german))
    assert same_anchors < 10


def _letters(text, anchor_as=""):
    """Letters of a line, each name written as `anchor_as`."""
    for anchor in sorted(ANCHORS, key=len, reverse=True):
        text = text.replace(anchor, anchor_as)
    return [char for char in text if char.isalpha()]


@pytest.mark.parametrize("lang, script", [
    ("de", lambda c: c.isascii() or c in "äöüÄÖÜ"),
    ("ru", lambda c: "\u0400" <= c <= "\u04ff"),
    ("ar", lambda c: "\u0600" <= c <= "\u06ff"),
    ("zh", lambda c: "\u4e00" <= c <= "\u9fa5"),
])
def test_each_language_writes_its_own_script(lang, script):
    rows = make("corpus", lang, n=300, loanword_rate=0.0)
    letters = [c for row in rows for c in _letters(row["text"])]
    assert letters and all(script(c) for c in letters)  # only names are in another script
    with_names = [c for row in rows for c in _letters(row["text"], anchor_as="N")]  # a name counts as one letter
    assert sum(map(script, with_names)) / len(with_names) > (0.99 if lang == "de" else 0.7)


def test_chinese_running_text_has_no_spaces():
    for kind, fields in [("corpus", ["text"]), ("nli", ["text_a", "text_b"]), ("span_qa", ["context", "question"])]:
        for row in make(kind, "zh", n=100, loanword_rate=0.0) if kind == "corpus" else make(kind, "zh", n=100):
            assert all(" " not in row[field] for field in fields)


def test_loanwords_are_english_words_at_the_configured_rate():
    def borrowed(rows):
        return [word for row in rows for word in row["text"].split() if word.isascii() and word.isalpha()
                and word not in ANCHORS]
    assert borrowed(make("corpus", "ru", n=300, loanword_rate=0.0)) == []
    loans = borrowed(make("corpus", "ru", n=300, loanword_rate=0.3))
    english = set(syn.NOUNS) | set(PLURAL_TO_NOUN) | set(syn.ADJECTIVES) | set(THIRD_TO_BASE)
    assert len(loans) > 100 and set(loans) <= english
    assert 0 < len(borrowed(make("corpus", "ru", n=300))) < len(loans) / 3
    # in Chinese, without spaces, a loanword next to a name or another loanword still stands apart
    for row in make("corpus", "zh", n=300, loanword_rate=0.5):
        assert set(re.findall(r"[A-Za-z]+", row["text"])) <= english | ANCHORS, row


# ---------------------------------------------------------------- word order and tags


def _clauses_of(tags):
    """Tag runs between conjunctions, without the final punctuation."""
    runs, current = [], []
    for tag in tags[:-1]:
        if tag == "CCONJ":
            runs.append(current)
            current = []
        else:
            current.append(tag)
    return runs + [current]


def test_word_order_differs_by_language():
    for row in make("pos", "de", n=100):  # verb-final, negation just before the verb
        assert all(run[-1] == "VERB" for run in _clauses_of(row["tags"]))
    for row in make("pos", "ar", n=100):  # verb-initial, after a fronted place phrase and negation
        for run in _clauses_of(row["tags"]):
            if run[0] == "ADP":
                run = run[1:]
                while run[0] == "PROPN":
                    run = run[1:]
            assert run[1 if run[0] == "PART" else 0] == "VERB", row
            assert run.index("NOUN") > run.index("PROPN")
    for lang in ("en", "ru", "zh"):  # subject before verb before object
        for row in make("pos", lang, n=100):
            tags = row["tags"]
            if tags[0] != "ADP":
                assert tags[0] == "PROPN" and tags.index("PROPN") < tags.index("VERB") < tags.index("NOUN")


@pytest.mark.parametrize("lang", syn.LANGUAGES)
@pytest.mark.parametrize("kind", ["pos", "ner"])
def test_tagged_tokens_are_words_with_one_tag_each(kind, lang):
    rows = make(kind, lang, n=200)
    for row in rows:
        assert len(row["tokens"]) == len(row["tags"]) > 0
        assert all(token and " " not in token for token in row["tokens"])
        assert set(row["tags"]) <= set(label_names(kind))
        for token, tag in zip(row["tokens"], row["tags"]):
            if token in ANCHORS:
                assert tag in ({"PROPN"} if kind == "pos" else {"B-PER", "I-PER", "B-LOC", "I-LOC"})
            if token.isdigit():
                assert tag == ("NUM" if kind == "pos" else "O")
        if lang == "zh":
            assert " " not in "".join(row["tokens"]) and row["tokens"][-1] == "。"
    if kind == "ner":
        every = Counter(tag for row in rows for tag in row["tags"])
        assert every["I-PER"] and every["I-LOC"] and every["B-PER"] and every["B-LOC"]


def test_held_out_names_are_new_to_every_other_split_and_language():
    pools = syn.held_out_names(SEED)
    assert [len(set(pools[split])) for split in syn.SPLITS] == [syn.HELD_OUT_NAMES_PER_SPLIT] * 3
    assert not set(pools["train"]) & (set(pools["dev"]) | set(pools["test"]))
    assert not set(pools["dev"]) & set(pools["test"])
    words = {word.lower() for lang in syn.LANGUAGES for word in syn.lexicon(SEED).words[lang].values()}
    assert not {name.lower() for name in HELD_OUT} & (words | {anchor.lower() for anchor in ANCHORS})
    # no corpus line, so no pretraining, ever meets one
    assert not HELD_OUT & {word for row in make("corpus", "en", n=300) for word in row["text"].split()}


@pytest.mark.parametrize("kind", ["pos", "ner"])
def test_tagging_test_names_were_never_tagged_in_training(kind):
    pools = syn.held_out_names(SEED)
    names = {split: {token for row in make(kind, "en", n=300, split=split) for token in row["tokens"]} & HELD_OUT
             for split in ("train", "test")}
    assert names["train"] and names["train"] <= set(pools["train"])
    assert names["test"] and names["test"] <= set(pools["test"])
    assert not {token for row in make(kind, "en", n=300, split="test", unseen_name_rate=0.0)
                for token in row["tokens"]} & HELD_OUT
    # about half the people and places are renamed
    rows = make(kind, "en", n=300, split="test")
    starts = [token for row in rows for token, tag in zip(row["tokens"], row["tags"])
              if tag in ("PROPN", "B-PER", "B-LOC") and (tag != "PROPN" or token not in syn.SURNAMES)]
    assert 0.35 < sum(token in HELD_OUT for token in starts) / len(starts) < 0.65


def test_a_held_out_name_is_a_person_in_one_sentence_and_a_place_in_another():
    roles = {}
    for row in make("ner", "en", n=300, split="test"):
        for token, tag in zip(row["tokens"], row["tags"]):
            if token in HELD_OUT and tag != "O":
                roles.setdefault(token, set()).add(tag[2:])
    assert sum(roles_of == {"PER", "LOC"} for roles_of in roles.values()) > len(roles) / 2


def test_ner_tags_follow_the_names_in_the_text():
    for row in make("ner", "en", n=200):
        clauses = parse_sentence(" ".join(row["tokens"]))
        spans = [(" ".join(filter(None, c["subject"])), "PER") for c in clauses]
        spans += [(c["place"], "LOC") for c in clauses if c["place"]]
        predicted = []
        i = 0
        while i < len(row["tags"]):
            tag = row["tags"][i]
            if tag.startswith("B-"):
                j = i + 1
                while j < len(row["tags"]) and row["tags"][j] == "I-" + tag[2:]:
                    j += 1
                predicted.append((" ".join(row["tokens"][i:j]), tag[2:]))
                i = j
            else:
                assert tag == "O"
                i += 1
        assert sorted(predicted) == sorted(spans)


def test_english_pos_and_ccg_follow_the_grammar():
    for kind in ("pos", "ccg"):
        for row in make(kind, "en", n=200):
            parse_sentence(" ".join(row["tokens"]))  # the tokens are a well-formed sentence
            for token, tag in zip(row["tokens"], row["tags"]):
                if token in THIRD_TO_BASE or token in syn.VERBS:
                    assert tag == ("VERB" if kind == "pos" else r"(S\NP)/NP")
                if token in syn.ADJECTIVES:
                    assert tag == ("ADJ" if kind == "pos" else "N/N")
                if token in syn.NOUNS or token in PLURAL_TO_NOUN:
                    assert tag == ("NOUN" if kind == "pos" else "N")
                if token in ("the", "a", "an"):
                    assert tag == ("DET" if kind == "pos" else "NP/N")
                if token in ANCHORS and kind == "ccg":
                    assert tag in ("NP", "NP/NP")


# ---------------------------------------------------------------- labels follow from the text


def test_nli_labels_are_recomputed_by_the_oracle():
    rows = make("nli", "en", n=900)
    for row in rows:
        assert nli_oracle(row["text_a"], row["text_b"]) == row["label"], row
        if row["label"] == "neutral":  # it says something the premise does not mention
            assert set(content_words(row["text_b"])) - set(content_words(row["text_a"])), row
        if row["label"] == "contradiction":  # it changes the verb, the negation or the count
            (h,) = parse_sentence(row["text_b"])
            (p,) = [c for c in parse_sentence(row["text_a"]) if c["subject"] == h["subject"]]
            assert h["negated"] or h["verb"] != p["verb"] or h["number"] != p["number"]
    counts = Counter(row["label"] for row in rows)
    assert all(0.27 < counts[label] / len(rows) < 0.40 for label in label_names("nli"))
    for label in label_names("nli"):  # negation is no give-away: it appears under every label
        assert any(" not " in row["text_b"] for row in rows if row["label"] == label)


def _statements(sentence):
    return [clause + " ." for clause in sentence.removesuffix(" .").split(" and ")]


def test_restated_corpus_lines_state_a_fact_then_something_it_entails():
    lines = [row["text"] for row in make("corpus", "en", n=400, restate_rate=1.0, loanword_rate=0.0)]
    people = shortened = asked = 0
    for line in lines:
        first, second, *question = re.findall(r".+? [.?](?= |$)", line)
        assert first.endswith(" .") and second.endswith(" .") and len(question) <= 1, line
        asked += bool(question) and question[0].endswith(" ?")
        shortened += sum(content_words(second).values()) < sum(content_words(first).values())
        words = first.split()
        if words[words.index(",") + 1 if words[0] == "In" else 0] not in syn.FIRST_NAMES:  # a thing's fact
            assert content_words(second) <= content_words(first), line
            continue
        people += 1
        for hypothesis in _statements(second):
            h = parse_clause(hypothesis.split()[:-1])
            (premise,) = [p for p in _statements(first) if parse_clause(p.split()[:-1])["subject"] == h["subject"]]
            if h["negated"]:  # nothing follows from a negated fact with modifiers dropped: it is repeated
                assert parse_clause(premise.split()[:-1]) == h, line
            else:
                assert nli_oracle(premise, hypothesis) == "entailment", line
    assert people > 0.6 * len(lines) and 0.2 < shortened / len(lines) < 0.6 and 0.15 < asked / len(lines) < 0.4


def test_paraphrase_labels_are_recomputed_by_the_oracle():
    rows = make("paraphrase", "en", n=600)
    swaps = 0
    for row in rows:
        assert row["text_a"] != row["text_b"]
        first, second = parse_sentence(row["text_a"]), parse_sentence(row["text_b"])
        same_meaning = {frozen(c) for c in first} == {frozen(c) for c in second}
        assert same_meaning == (row["label"] == "paraphrase"), row
        same_words = content_words(row["text_a"]) == content_words(row["text_b"])
        if row["label"] == "paraphrase":
            assert same_words
        swaps += same_words and row["label"] == "not_paraphrase"
    assert swaps > 100  # PAWS-style pairs: same words, different meaning
    counts = Counter(row["label"] for row in rows)
    assert 0.43 < counts["paraphrase"] / len(rows) < 0.57


@pytest.mark.parametrize("lang", syn.LANGUAGES)
def test_span_answers_are_the_text_at_their_offsets(lang):
    for sentences in (3, 5):
        for row in make("span_qa", lang, n=150, context_sentences=sentences):
            (text,), (start,) = row["answers"]["text"], row["answers"]["answer_start"]
            assert text and row["context"][start:start + len(text)] == text
            ends = row["context"].count({"zh": "。"}.get(lang, " ."))
            assert ends == sentences


def test_span_answers_answer_the_question():
    rows = make("span_qa", "en", n=300)
    for row in rows:
        clauses = [parse_clause(s.split()) for s in row["context"].split(" .") if s.strip()]
        answer = row["answers"]["text"][0]
        words = row["question"].split()[:-1]
        if words[0] == "Who":
            (clause,) = [c for c in clauses if c["verb"] == THIRD_TO_BASE[words[1]]
                         and c["obj"] == parse_noun_phrase(words[2:])[0]]
            assert answer == " ".join(filter(None, clause["subject"]))
        else:
            start = 4 if words[0] == "How" else 2
            name_end = start + 1 + (words[start + 1] in syn.SURNAMES)
            subject = (words[start], words[start + 1] if name_end == start + 2 else None)
            (clause,) = [c for c in clauses if c["subject"] == subject]
            if words[0] == "What":
                assert parse_noun_phrase(answer.split()) == (clause["obj"], clause["number"], clause["adjective"])
            elif words[0] == "Where":
                assert answer == clause["place"]
            else:
                assert answer == str(clause["number"])
    # the same question has the same name, place or number for an answer in every language
    english = make("span_qa", "en", n=100, split="test")
    for lang in ("de", "ru", "ar", "zh"):
        for en_row, row in zip(english, make("span_qa", lang, n=100, split="test")):
            if not en_row["question"].startswith("What"):
                assert row["answers"]["text"][0].replace("·", " ") == en_row["answers"]["text"][0]


def test_exactly_one_choice_follows_from_the_context():
    rows = make("multiple_choice", "en", n=400)
    for row in rows:
        fact, question = row["context"].split(" . ")
        assert question.startswith("What is true about")
        verdicts = [nli_oracle(fact + " .", choice) for choice in row["choices"]]
        assert len(set(row["choices"])) == 4
        assert [i for i, verdict in enumerate(verdicts) if verdict == "entailment"] == [row["label"]], row
    positions = Counter(row["label"] for row in rows)
    assert all(0.18 < positions[i] / len(rows) < 0.32 for i in range(4))
    for lang in ("de", "ru", "ar", "zh"):  # no two choices read alike in any language
        assert all(len(set(row["choices"])) == 4 for row in make("multiple_choice", lang, n=400))


def test_parallel_pairs_are_translations():
    for lang in ("de", "ru", "ar", "zh"):
        rows = make("parallel", lang, n=200)
        assert len({row["src"] for row in rows}) == len({row["tgt"] for row in rows}) == 200
        for row in rows:
            parse_sentence(row["tgt"])
            assert anchors_of(row["src"]) == anchors_of(row["tgt"])


def _chinese_signature(text, words):
    """What a Chinese line says, as a multiset: concepts (each character belongs to one), names, numbers, negation."""
    concept_of = {char: concept for concept, word in words.items() for char in word}
    items, previous = Counter(), None
    for char in text:
        concept = concept_of.get(char)
        if concept and concept != previous:
            items[concept] += 1
        previous = concept
    items.update(re.findall(r"[A-Za-z]+|\d+", text))
    items["NOT"] += text.count("不")
    return +items  # drop zero counts


def _english_signature(text):
    items = Counter()
    for clause in parse_sentence(text):
        items.update(filter(None, [clause["verb"], clause["obj"], clause["adjective"], *clause["subject"]]))
        items.update((clause["place"] or "").split())
        items.update([str(clause["number"])] if isinstance(clause["number"], int) else [])
        items["NOT"] += clause["negated"]
    return +items


def test_mining_gold_pairs_are_translations_and_distractors_are_not():
    words = syn.lexicon(SEED).words["zh"]
    rows = make("mining", "zh", n=150, distractor_ratio=0.6)
    gold = [row for row in rows if row["src"] and row["tgt"]]
    source_only = [row for row in rows if row["tgt"] is None]
    target_only = [row for row in rows if row["src"] is None]
    assert len(gold) == 150 and len(source_only) == len(target_only) == 90
    for row in gold:
        assert _chinese_signature(row["src"], words) == _english_signature(row["tgt"]), row
    target_meanings = [_english_signature(row["tgt"]) for row in gold + target_only]
    source_meanings = [_chinese_signature(row["src"], words) for row in gold + source_only]
    assert all(_chinese_signature(row["src"], words) not in target_meanings for row in source_only)
    assert all(_english_signature(row["tgt"]) not in source_meanings for row in target_only)


@pytest.mark.parametrize("lang", ["en", "de", "ru", "ar", "zh"])
@pytest.mark.parametrize("kind", ["nli", "paraphrase"])
def test_pair_examples_mark_names_numbers_negation_and_the_words_one_side_lacks(kind, lang):
    """What perturbations must not edit (xstilts.robustness): numbers, negation (on both sides of a
    pair as well), and in spaced scripts every word one side has and the other lacks."""
    rows = generate(kind, split="test", lang=lang, n=80, seed=7, stream=kind)
    for row in rows:
        for field, other in (("text_a", "text_b"), ("text_b", "text_a")):
            marked = {row[field][start:end] for start, end in row["protected"][field]}
            assert all(re.fullmatch(r"\d+", word) is None or word in marked for word in re.findall(r"\d+", row[field]))
            for word in set(NEGATIONS[lang]) & set(re.findall(r"\w+", row[field])):
                assert word in marked
            if lang != "zh":  # spaced scripts: a word of this side absent from the other is marked
                others = {w.lower() for w in row[other].split()}
                assert all(w in marked for w in row[field].split() if w.lower() not in others and w.isalpha())


NEGATIONS = {"en": ["not"], "de": ["nicht"], "ru": ["не"], "ar": ["لا"], "zh": ["不"]}


def test_tagging_marks_its_names_and_numbers_by_token():
    for row in generate("ner", split="test", lang="de", n=40, seed=7, stream="panx"):
        entities = [i for i, tag in enumerate(row["tags"]) if tag != "O"]
        numbers = [i for i, token in enumerate(row["tokens"]) if token.isdigit()]
        assert set(entities) | set(numbers) <= set(row["protected"])
