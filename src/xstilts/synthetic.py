"""The embedded benchmark: a small, deterministic, multilingual world with real cross-lingual structure.

English and four synthetic languages share one concept lexicon but differ in script, word
order and morphology:

    en  English words; SVO; adjective before noun; "the"/"a"; plural -s
    de  Latin-script cognates of the English words; verb-final; gendered articles; agreement
    ru  Cyrillic words; SVO; case suffix on the object; no articles
    ar  Arabic-script words; VSO; adjective after noun; definite prefix "ال"
    zh  CJK characters; SVO; no spaces, no morphology; measure word after a numeral

People's names, place names and digits are written alike in every language: they are the
anchors a multilingual model can align the languages by, as real corpora share names and
numbers. Corpora are monolingual; their only other shared signal is an occasional English
loanword.

A `Clause` is a language-independent fact ("Anna buys 3 red books in Paris"). Each language's
`Grammar` renders clauses as tokens that carry a part of speech and a grammatical role, so
every label (entailment, answer span, tags) follows from the fact and its rendering, and the
dev and test sets of different languages are translations of each other.

Semantics the labels follow (a reader who knows the lexicon can recompute every label):
facts are about one scene; a verb's partner (buy/sell, find/lose, ...) contradicts it on the
same frame (same subject, object and modifiers); "3 books" and "a book" are exact counts;
a hypothesis that adds a modifier, a new verb or a new object is neither entailed nor
contradicted.
"""

from __future__ import annotations

import functools
import itertools
import json
import numbers
import random
from dataclasses import dataclass, replace
from typing import Callable, NamedTuple

LANGUAGES: tuple[str, ...] = ("en", "de", "ru", "ar", "zh")
KINDS: tuple[str, ...] = ("corpus", "nli", "paraphrase", "span_qa", "multiple_choice", "ccg", "pos", "ner",
                          "parallel", "mining")
SPLITS: tuple[str, ...] = ("train", "dev", "test")

# Options each kind accepts, with their defaults.
OPTIONS: dict[str, dict[str, float | int]] = {
    "corpus": {"loanword_rate": 0.03, "restate_rate": 0.0},
    "span_qa": {"context_sentences": 3},
    "mining": {"distractor_ratio": 1.0},
    **{tagging: {"unseen_name_rate": 0.5} for tagging in ("pos", "ner", "ccg")},
}

# ---------------------------------------------------------------------------------------------
# The concept lexicon (English words; every other language's words are derived from these)

NOUNS: tuple[str, ...] = (
    "book", "apple", "car", "house", "dog", "cat", "horse", "bird", "chair", "table",
    "lamp", "cup", "bottle", "letter", "ticket", "key", "coat", "hat", "shoe", "bag",
    "ball", "bike", "boat", "clock", "phone", "pen", "map", "ring", "card", "plate",
    "basket", "window", "picture", "flower", "guitar", "camera", "kite", "drum", "candle", "mirror",
)
ADJECTIVES: tuple[str, ...] = (
    "red", "blue", "green", "yellow", "black", "white", "brown", "grey", "pink", "purple",
    "big", "small", "old", "cheap", "heavy", "long", "short", "round", "soft", "wooden",
)
# base form -> (third person singular, contradictory partner or None)
VERBS: dict[str, tuple[str, str | None]] = {
    "buy": ("buys", "sell"), "sell": ("sells", "buy"),
    "find": ("finds", "lose"), "lose": ("loses", "find"),
    "open": ("opens", "close"), "close": ("closes", "open"),
    "like": ("likes", "hate"), "hate": ("hates", "like"),
    "repair": ("repairs", "break"), "break": ("breaks", "repair"),
    "show": ("shows", "hide"), "hide": ("hides", "show"),
    "accept": ("accepts", "refuse"), "refuse": ("refuses", "accept"),
    "remember": ("remembers", "forget"), "forget": ("forgets", "remember"),
    "catch": ("catches", "drop"), "drop": ("drops", "catch"),
    "keep": ("keeps", "discard"), "discard": ("discards", "keep"),
    "see": ("sees", None), "paint": ("paints", None), "carry": ("carries", None), "wash": ("washes", None),
}
FIRST_NAMES: tuple[str, ...] = (
    "Anna", "Boris", "Carla", "David", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas",
    "Karim", "Lena", "Marco", "Nadia", "Omar", "Paula", "Ravi", "Sofia", "Tomas", "Uma",
    "Victor", "Wanda", "Yara", "Zoran", "Amir", "Bianca", "Dmitri", "Emil", "Fatima", "Igor",
)
SURNAMES: tuple[str, ...] = (
    "Smith", "Garcia", "Novak", "Kim", "Silva", "Meyer", "Rossi", "Tanaka", "Haddad", "Ivanov",
    "Khan", "Nguyen", "Weber", "Costa", "Moreau", "Jensen", "Kowalski", "Okafor", "Larsen", "Petrov",
)
PLACES: tuple[str, ...] = (
    "Paris", "Berlin", "Cairo", "Lima", "Oslo", "Rome", "Madrid", "Tokyo", "Delhi", "Dakar",
    "Quito", "Nairobi", "Lisbon", "Vienna", "New York", "Buenos Aires", "Hong Kong", "San Diego",
    "Tel Aviv", "Abu Dhabi",
)
COUNTS: tuple[int, ...] = tuple(range(2, 21))

UPOS: list[str] = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
                   "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"]
NER_TAGS: list[str] = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
# English supertags by grammatical role; names and places are NP, with NP/NP on all but their last word.
CCG_BY_ROLE: dict[str, str] = {
    "verb": r"(S\NP)/NP", "aux": r"(S\NP)/(S\NP)", "neg": r"(S\NP)\(S\NP)", "det": "NP/N", "num": "N/N",
    "adj": "N/N", "noun": "N", "prep": r"((S\NP)\(S\NP))/NP", "fprep": "(S/S)/NP", "comma": ",",
    "conj": "conj", "punct": ".",
}
_LABELS: dict[str, list[str]] = {
    "nli": ["entailment", "neutral", "contradiction"],
    "paraphrase": ["not_paraphrase", "paraphrase"],
    "pos": UPOS,
    "ner": NER_TAGS,
    "ccg": ["NP", "NP/NP", *dict.fromkeys(CCG_BY_ROLE.values())],
}

# Function words of each language: invented content words must not collide with them or with the anchors.
_FUNCTION_WORDS: dict[str, tuple[str, ...]] = {
    "de": ("der", "die", "das", "ein", "eine", "in", "nicht", "und", "ist", "wer", "was", "wo", "wie", "viele",
           "über", "stimmt"),
    "ru": ("в", "не", "и", "кто", "что", "где", "сколько", "верно", "про"),
    "ar": ("في", "لا", "و", "من", "ماذا", "أين", "كم", "ما", "الصحيح", "عن"),
    "zh": tuple("在不一谁什么哪里多少关于句对很个本只张把条辆"),
}
_ANCHOR_WORDS: tuple[str, ...] = tuple(word for name in FIRST_NAMES + SURNAMES + PLACES for word in name.split())


def _verb_groups() -> tuple[tuple[str, ...], ...]:
    """Verbs grouped with their partner: clauses in one example draw distinct groups."""
    groups, seen = [], set()
    for verb, (_, partner) in VERBS.items():
        if verb not in seen:
            group = (verb, partner) if partner else (verb,)
            seen.update(group)
            groups.append(group)
    return tuple(groups)


_VERB_GROUPS = _verb_groups()


def _rng(*parts) -> random.Random:
    # String seeds are hashed with SHA-512 by `random`, so streams are stable across runs and platforms.
    return random.Random("|".join(str(part) for part in parts))


# ---------------------------------------------------------------------------------------------
# Invented words

_VOWELS = "aeiou"
_CONSONANTS = "bdfgklmnprstvz"
# German-flavoured spelling of English words: the cognates keep enough letters to share sub-words.
_GERMAN_SHIFTS = {"th": "d", "sh": "sch", "ck": "k", "ch": "ch", "c": "k", "ee": "ie", "oo": "u", "ou": "au",
                  "w": "v", "y": "i", "x": "ks", "qu": "kw"}
_CYRILLIC = {"sh": "ш", "ch": "ч", "th": "т", "ee": "и", "oo": "у", "a": "а", "b": "б", "c": "к", "d": "д",
             "e": "е", "f": "ф", "g": "г", "h": "х", "i": "и", "j": "ж", "k": "к", "l": "л", "m": "м", "n": "н",
             "o": "о", "p": "п", "q": "к", "r": "р", "s": "с", "t": "т", "u": "у", "v": "в", "w": "в", "x": "кс",
             "y": "ы", "z": "з"}
# Short "e" is dropped: Arabic script writes consonants and long vowels.
_ARABIC = {"sh": "ش", "th": "ث", "ch": "تش", "kh": "خ", "ee": "ي", "oo": "و", "a": "ا", "b": "ب", "c": "ك",
           "d": "د", "e": "", "f": "ف", "g": "غ", "h": "ه", "i": "ي", "j": "ج", "k": "ك", "l": "ل", "m": "م",
           "n": "ن", "o": "و", "p": "ب", "q": "ق", "r": "ر", "s": "س", "t": "ت", "u": "و", "v": "ف", "w": "و",
           "x": "كس", "y": "ي", "z": "ز"}
_MEASURE_WORDS = ("个", "本", "只", "张", "把", "条", "辆")


def _transcribe(word: str, table: dict[str, str]) -> str:
    """Rewrite `word` left to right, two-letter keys before one-letter ones."""
    out, i = [], 0
    while i < len(word):
        pair = word[i:i + 2]
        if len(pair) == 2 and pair in table:
            out.append(table[pair])
            i += 2
        else:
            out.append(table.get(word[i], word[i]))
            i += 1
    return "".join(out)


def _mutate(word: str, rng: random.Random, changes: int) -> str:
    """Replace `changes` letters, a vowel by a vowel and a consonant by a consonant."""
    letters = list(word)
    for _ in range(changes):
        i = rng.randrange(len(letters))
        letters[i] = rng.choice(_VOWELS if letters[i] in _VOWELS else _CONSONANTS)
    return "".join(letters)


def _grown(word: str, rng: random.Random, attempt: int) -> str:
    """Every third retry lengthens the word, so short words that keep colliding still find a free form."""
    return word + "".join(rng.choice(_CONSONANTS) for _ in range(attempt // 3))


def _german_word(word: str, rng: random.Random, attempt: int) -> str:
    return _mutate(_transcribe(_grown(word, rng, attempt), _GERMAN_SHIFTS), rng, attempt + rng.randint(0, 1))


def _russian_word(word: str, rng: random.Random, attempt: int) -> str:
    # Stems end in a consonant so the case and gender endings stay visible.
    return _transcribe(_mutate(_grown(word, rng, attempt), rng, 1 + attempt), _CYRILLIC).rstrip("аеиоуы")


def _arabic_word(word: str, rng: random.Random, attempt: int) -> str:
    return _transcribe(_mutate(_grown(word, rng, attempt), rng, 2 + attempt), _ARABIC)


_INVENTORS: dict[str, Callable[[str, random.Random, int], str]] = {
    "de": _german_word, "ru": _russian_word, "ar": _arabic_word,
}


@dataclass(frozen=True)
class Lexicon:
    """Every language's stem for every concept (English: the concept itself), plus noun classes."""

    seed: int
    words: dict[str, dict[str, str]]  # lang -> concept -> stem
    gender: dict[str, str]  # noun -> "m" | "f" | "n", for German and Russian agreement
    measure: dict[str, str]  # noun -> Chinese measure word


@functools.lru_cache(maxsize=8)
def lexicon(seed: int) -> Lexicon:
    """The lexicon of a seed: the invented words depend on the seed and on nothing else."""
    concepts = NOUNS + ADJECTIVES + tuple(VERBS)
    rng = _rng("lexicon", seed)
    gender = {noun: rng.choice("mfn") for noun in NOUNS}
    measure = {noun: rng.choice(_MEASURE_WORDS) for noun in NOUNS}
    words = {"en": {concept: concept for concept in concepts}}
    for lang, invent in _INVENTORS.items():
        words[lang] = _invented(concepts, invent, seed, lang)
    words["zh"] = _chinese_words(concepts, rng)
    return Lexicon(seed, words, gender, measure)


def _invented(concepts, invent, seed: int, lang: str) -> dict[str, str]:
    taken = {word.lower() for word in _FUNCTION_WORDS[lang] + _ANCHOR_WORDS}
    words = {}
    for concept in concepts:
        rng = _rng("word", seed, lang, concept)
        for attempt in itertools.count():  # each retry mutates more letters, so a free word turns up
            word = invent(concept, rng, attempt)
            if _usable(word, taken):
                break
        taken.add(word.lower())
        words[concept] = word.capitalize() if lang == "de" and concept in NOUNS else word
    return words


def _usable(word: str, taken: set[str]) -> bool:
    # Arabic stems must not look as if they already carried the definite prefix.
    return len(word) >= 2 and word.lower() not in taken and not word.startswith("ال")


def _chinese_words(concepts, rng: random.Random) -> dict[str, str]:
    """One or two characters per concept, each character used once, so running text segments one way only."""
    reserved = set(_FUNCTION_WORDS["zh"])
    pool = [chr(code) for code in range(0x4E00, 0x9FA6) if chr(code) not in reserved]
    chars = rng.sample(pool, 2 * len(concepts))
    return {concept: "".join(chars.pop() for _ in range(rng.choice((1, 2)))) for concept in concepts}


HELD_OUT_NAMES_PER_SPLIT = 40


@functools.lru_cache(maxsize=8)
def held_out_names(seed: int) -> dict[str, tuple[str, ...]]:
    """Per split, invented names that no other split, no anchor and no language's word uses.

    The tagging tasks rename people and places with them: a tagger tested on its training names
    only looks each word up (English UD-POS and PAN-X scored 100.0, issue 20), while real NER
    and POS test sets are full of names never seen in training. One pool serves people and
    places alike, so whether such a name is a person or a place only its context says."""
    rng = _rng("held-out names", seed)
    taken = {word.lower() for word in _ANCHOR_WORDS}
    taken |= {word.lower() for words in lexicon(seed).words.values() for word in words.values()}
    pools = {}
    for split in SPLITS:
        pool = []
        while len(pool) < HELD_OUT_NAMES_PER_SPLIT:
            name = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(rng.choice((2, 3))))
            if name not in taken:
                taken.add(name)
                pool.append(name.capitalize())
        pools[split] = tuple(pool)
    return pools


# ---------------------------------------------------------------------------------------------
# Facts


@dataclass(frozen=True)
class Person:
    first: str
    last: str | None = None

    @property
    def words(self) -> tuple[str, ...]:
        return (self.first, self.last) if self.last else (self.first,)


@dataclass(frozen=True)
class Clause:
    """A fact, and the one surface choice that does not change it (the place phrase fronted)."""

    subject: Person | str  # a person; a noun (the concept) only in corpus lines
    verb: str
    obj: str
    number: int | None = None  # None "the book", 1 "a book", 0 "books", n >= 2 "n books"
    adjective: str | None = None
    place: str | None = None
    negated: bool = False
    place_first: bool = False

    def meaning(self) -> Clause:
        return replace(self, place_first=False) if self.place_first else self


def _is_plural(number: int | None) -> bool:
    return number is not None and number != 1


def _is_counted(number: int | None) -> bool:
    return number is not None and number >= 2


def _english_noun(noun: str, plural: bool) -> str:
    return noun + "s" if plural else noun


# ---------------------------------------------------------------------------------------------
# Grammars: clause -> tokens


class Tok(NamedTuple):
    text: str
    pos: str  # universal part of speech
    role: str  # person, place, verb, aux, neg, det, num, mw, adj, noun, prep, fprep, comma, conj, punct, ...
    loan: str | None = None  # the English word a speaker of this language might borrow here


def _count(number: int | None) -> list[Tok]:
    return [Tok(str(number), "NUM", "num")] if _is_counted(number) else []


def _reference(number: int | None) -> int | None:
    """How a question refers back to an object: a counted plural becomes a bare plural."""
    return 0 if _is_counted(number) else number


class Grammar:
    """How one language writes clauses, questions and sentences; subclasses fill in the word order."""

    code = ""
    separator = " "
    cased = True  # sentence starts are capitalised
    period, question_mark = ".", "?"
    conjunction = Tok("and", "CCONJ", "conj")

    def __init__(self, lex: Lexicon):
        self.lex = lex
        self.words = lex.words[self.code]

    # --- sentences -------------------------------------------------------------------------
    def sentence(self, clauses: list[Clause]) -> list[Tok]:
        tokens = []
        for i, clause in enumerate(clauses):
            tokens += ([self.conjunction] if i else []) + self.clause(clause)
        return self._capitalised(tokens + [Tok(self.period, "PUNCT", "punct")])

    def question_sentence(self, clause: Clause, asked: str) -> list[Tok]:
        return self._capitalised(self.question(clause, asked) + [Tok(self.question_mark, "PUNCT", "punct")])

    def about_sentence(self, person: Person) -> list[Tok]:
        return self._capitalised(self.about(person) + [Tok(self.question_mark, "PUNCT", "punct")])

    def predicate_sentence(self, noun: str, adjective: str) -> list[Tok]:
        return self._capitalised(self.predicate(noun, adjective) + [Tok(self.period, "PUNCT", "punct")])

    def say(self, clauses: list[Clause]) -> str:
        return self.text(self.sentence(clauses))

    def text(self, tokens: list[Tok]) -> str:
        return self.layout(tokens)[0]

    def layout(self, tokens: list[Tok]) -> tuple[str, list[int]]:
        """The written text and each token's character offset in it."""
        parts, starts, offset = [], [], 0
        for i, tok in enumerate(tokens):
            gap = self.gap(tokens[i - 1], tok) if i else ""
            starts.append(offset + len(gap))
            parts.append(gap + tok.text)
            offset += len(gap) + len(tok.text)
        return "".join(parts), starts

    def gap(self, left: Tok, right: Tok) -> str:
        return self.separator

    def _capitalised(self, tokens: list[Tok]) -> list[Tok]:
        if not self.cased:
            return tokens
        first = tokens[0]
        return [first._replace(text=first.text[:1].upper() + first.text[1:]), *tokens[1:]]

    # --- words -----------------------------------------------------------------------------
    def names(self, words, role: str) -> list[Tok]:
        return [Tok(word, "PROPN", role) for word in words]

    def person(self, person: Person) -> list[Tok]:
        return self.names(person.words, "person")

    def place(self, place: str) -> list[Tok]:
        return self.names(place.split(), "place")

    def subject(self, subject: Person | str) -> list[Tok]:
        return self.person(subject) if isinstance(subject, Person) else self.subject_noun(subject)

    def object(self, clause: Clause) -> list[Tok]:
        return self.noun_phrase(clause.obj, clause.number, clause.adjective)

    def reference(self, clause: Clause) -> list[Tok]:
        return self.noun_phrase(clause.obj, _reference(clause.number), None)

    def noun(self, noun: str, text: str, plural: bool) -> Tok:
        return Tok(text, "NOUN", "noun", _english_noun(noun, plural))

    def adjective(self, adjective: str, text: str) -> Tok:
        return Tok(text, "ADJ", "adj", adjective)

    def finite(self, verb: str, text: str) -> Tok:
        return Tok(text, "VERB", "verb", VERBS[verb][0])

    def word(self, text: str, pos: str) -> Tok:
        """A function word of a question or description (never in tagged sentences)."""
        return Tok(text, pos, "function")

    # --- what each language defines ---------------------------------------------------------
    def clause(self, clause: Clause) -> list[Tok]:
        raise NotImplementedError

    def question(self, clause: Clause, asked: str) -> list[Tok]:
        raise NotImplementedError

    def about(self, person: Person) -> list[Tok]:
        raise NotImplementedError

    def predicate(self, noun: str, adjective: str) -> list[Tok]:
        raise NotImplementedError

    def noun_phrase(self, noun: str, number: int | None, adjective: str | None) -> list[Tok]:
        raise NotImplementedError

    def subject_noun(self, noun: str) -> list[Tok]:
        raise NotImplementedError


class English(Grammar):
    code = "en"

    def clause(self, c):
        verb = ([Tok("does", "AUX", "aux"), Tok("not", "PART", "neg"), Tok(c.verb, "VERB", "verb")] if c.negated
                else [Tok(VERBS[c.verb][0], "VERB", "verb")])
        core = self.subject(c.subject) + verb + self.object(c)
        if not c.place:
            return core
        if c.place_first:
            return [Tok("in", "ADP", "fprep"), *self.place(c.place), Tok(",", "PUNCT", "comma"), *core]
        return core + [Tok("in", "ADP", "prep"), *self.place(c.place)]

    def noun_phrase(self, noun, number, adjective):
        plural = _is_plural(number)
        words = [Tok(adjective, "ADJ", "adj")] if adjective else []
        words.append(Tok(_english_noun(noun, plural), "NOUN", "noun"))
        return self.determiner(number, words[0].text) + words

    def determiner(self, number, next_word: str) -> list[Tok]:
        if number is None:
            return [Tok("the", "DET", "det")]
        if number == 1:
            return [Tok("an" if next_word[0] in _VOWELS else "a", "DET", "det")]
        return _count(number)

    def subject_noun(self, noun):
        return [Tok("the", "DET", "det"), Tok(noun, "NOUN", "noun")]

    def question(self, c, asked):
        does, base = self.word("does", "AUX"), Tok(c.verb, "VERB", "verb")
        if asked == "who":
            return [self.word("who", "PRON"), Tok(VERBS[c.verb][0], "VERB", "verb"), *self.reference(c)]
        if asked == "what":
            return [self.word("what", "PRON"), does, *self.subject(c.subject), base]
        if asked == "where":
            return [self.word("where", "ADV"), does, *self.subject(c.subject), base, *self.reference(c)]
        return [self.word("how", "ADV"), self.word("many", "ADJ"), Tok(_english_noun(c.obj, True), "NOUN", "noun"),
                does, *self.subject(c.subject), base]

    def about(self, person):
        return [self.word("what", "PRON"), self.word("is", "AUX"), self.word("true", "ADJ"), self.word("about", "ADP"),
                *self.person(person)]

    def predicate(self, noun, adjective):
        return [*self.subject_noun(noun), self.word("is", "AUX"), Tok(adjective, "ADJ", "adj")]


def _attach(stem: str, suffix: str) -> str:
    """Add an ending without doubling the stem's final "e" (Lampe + en -> Lampen)."""
    return stem[:-1] + suffix if stem.endswith("e") and suffix.startswith("e") else stem + suffix


class German(Grammar):
    """Verb-final (S O PP V); articles and adjective endings agree with the noun's gender."""

    code = "de"
    conjunction = Tok("und", "CCONJ", "conj")
    ARTICLES = {"m": ("der", "ein"), "f": ("die", "eine"), "n": ("das", "ein")}
    PLURAL = {"m": "e", "f": "en", "n": "er"}
    AGREEMENT = {"m": "er", "f": "e", "n": "es"}

    def clause(self, c):
        verb = [Tok("nicht", "PART", "neg")] if c.negated else []
        verb.append(self.verb(c.verb))
        if not c.place:
            return self.subject(c.subject) + self.object(c) + verb
        if c.place_first:
            return [Tok("in", "ADP", "fprep"), *self.place(c.place), *self.subject(c.subject), *self.object(c), *verb]
        return self.subject(c.subject) + self.object(c) + [Tok("in", "ADP", "prep"), *self.place(c.place)] + verb

    def verb(self, verb: str) -> Tok:
        stem = self.words[verb]
        return self.finite(verb, stem + ("et" if stem.endswith(("t", "d")) else "t"))

    def noun_phrase(self, noun, number, adjective):
        gender, plural = self.lex.gender[noun], _is_plural(number)
        stem = self.words[noun]
        words = [self.adjective(adjective, _attach(self.words[adjective], "en" if plural else self.AGREEMENT[gender]))
                 ] if adjective else []
        words.append(self.noun(noun, self.plural(noun) if plural else stem, plural))
        definite, indefinite = self.ARTICLES[gender]
        if number is None:
            return [Tok(definite, "DET", "det"), *words]
        if number == 1:
            return [Tok(indefinite, "DET", "det"), *words]
        return _count(number) + words

    def plural(self, noun: str) -> str:
        return _attach(self.words[noun], self.PLURAL[self.lex.gender[noun]])

    def subject_noun(self, noun):
        return [Tok(self.ARTICLES[self.lex.gender[noun]][0], "DET", "det"), self.noun(noun, self.words[noun], False)]

    def question(self, c, asked):
        subject, verb = self.subject(c.subject), self.verb(c.verb)
        if asked == "who":
            return [self.word("wer", "PRON"), *self.reference(c), verb]
        if asked == "what":
            return [self.word("was", "PRON"), *subject, verb]
        if asked == "where":
            return [self.word("wo", "ADV"), *subject, *self.reference(c), verb]
        return [self.word("wie", "ADV"), self.word("viele", "ADJ"), self.noun(c.obj, self.plural(c.obj), True),
                *subject, verb]

    def about(self, person):
        return [self.word("was", "PRON"), self.word("über", "ADP"), *self.person(person), self.word("stimmt", "VERB")]

    def predicate(self, noun, adjective):
        return [*self.subject_noun(noun), self.word("ist", "AUX"), self.adjective(adjective, self.words[adjective])]


class Russian(Grammar):
    """SVO without articles; the object carries an accusative (or counted-plural) ending."""

    code = "ru"
    conjunction = Tok("и", "CCONJ", "conj")
    NOMINATIVE = {"m": "", "f": "а", "n": "о"}
    ADJECTIVE_NOMINATIVE = {"m": "ый", "f": "ая", "n": "ое"}

    def clause(self, c):
        core = self.subject(c.subject) + ([Tok("не", "PART", "neg")] if c.negated else []) + [self.verb(c.verb)]
        core += self.object(c)
        if not c.place:
            return core
        if c.place_first:
            return [Tok("в", "ADP", "fprep"), *self.place(c.place), *core]
        return core + [Tok("в", "ADP", "prep"), *self.place(c.place)]

    def verb(self, verb: str) -> Tok:
        return self.finite(verb, self.words[verb] + "ет")

    def noun_phrase(self, noun, number, adjective):
        noun_ending, adjective_ending = self.object_endings(number)
        words = [self.adjective(adjective, self.words[adjective] + adjective_ending)] if adjective else []
        return _count(number) + words + [self.noun(noun, self.words[noun] + noun_ending, _is_plural(number))]

    @staticmethod
    def object_endings(number: int | None) -> tuple[str, str]:
        """(noun, adjective) endings of an object: singular accusative, bare plural or counted plural."""
        if not _is_plural(number):
            return "у", "ую"
        return ("ы", "ых") if number == 0 else ("ов", "ых")

    def subject_noun(self, noun):
        return [self.noun(noun, self.words[noun] + self.NOMINATIVE[self.lex.gender[noun]], False)]

    def question(self, c, asked):
        subject, verb = self.subject(c.subject), self.verb(c.verb)
        if asked == "who":
            return [self.word("кто", "PRON"), verb, *self.reference(c)]
        if asked == "what":
            return [self.word("что", "PRON"), verb, *subject]
        if asked == "where":
            return [self.word("где", "ADV"), *subject, verb, *self.reference(c)]
        return [self.word("сколько", "ADV"), self.noun(c.obj, self.words[c.obj] + "ов", True), verb, *subject]

    def about(self, person):
        return [self.word("что", "PRON"), self.word("верно", "ADJ"), self.word("про", "ADP"), *self.person(person)]

    def predicate(self, noun, adjective):
        ending = self.ADJECTIVE_NOMINATIVE[self.lex.gender[noun]]
        return [*self.subject_noun(noun), self.adjective(adjective, self.words[adjective] + ending)]


class Arabic(Grammar):
    """VSO; adjectives follow the noun and share its definite prefix; plural -ات, agreeing adjective -ة."""

    code = "ar"
    cased = False
    question_mark = "؟"
    conjunction = Tok("و", "CCONJ", "conj")
    ARTICLE = "ال"

    def clause(self, c):
        core = ([Tok("لا", "PART", "neg")] if c.negated else []) + [self.verb(c.verb)]
        core += self.subject(c.subject) + self.object(c)
        if not c.place:
            return core
        if c.place_first:
            return [Tok("في", "ADP", "fprep"), *self.place(c.place), *core]
        return core + [Tok("في", "ADP", "prep"), *self.place(c.place)]

    def verb(self, verb: str) -> Tok:
        return self.finite(verb, "ي" + self.words[verb])

    def noun_phrase(self, noun, number, adjective):
        plural, prefix = _is_plural(number), self.ARTICLE if number is None else ""
        words = [self.noun(noun, prefix + (self.plural(noun) if plural else self.words[noun]), plural)]
        if adjective:
            words.append(self.adjective(adjective, prefix + self.words[adjective] + ("ة" if plural else "")))
        return _count(number) + words

    def plural(self, noun: str) -> str:
        stem = self.words[noun]
        return stem + ("ت" if stem.endswith("ا") else "ات")  # one alif, not two

    def subject_noun(self, noun):
        return [self.noun(noun, self.ARTICLE + self.words[noun], False)]

    def question(self, c, asked):
        subject, verb = self.subject(c.subject), self.verb(c.verb)
        if asked == "who":
            return [self.word("من", "PRON"), verb, *self.reference(c)]
        if asked == "what":
            return [self.word("ماذا", "PRON"), verb, *subject]
        if asked == "where":
            return [self.word("أين", "ADV"), verb, *subject, *self.reference(c)]
        return [self.word("كم", "ADV"), self.noun(c.obj, self.plural(c.obj), True), verb, *subject]

    def about(self, person):
        return [self.word("ما", "PRON"), self.word("الصحيح", "ADJ"), self.word("عن", "ADP"), *self.person(person)]

    def predicate(self, noun, adjective):
        return [*self.subject_noun(noun), self.adjective(adjective, self.words[adjective])]


class Chinese(Grammar):
    """SVO with the place phrase before the verb; no spaces, no inflection; numeral + measure word + noun."""

    code = "zh"
    separator = ""
    cased = False
    period, question_mark = "。", "？"
    conjunction = Tok("，", "PUNCT", "conj")

    def gap(self, left, right):
        # Latin words meet only when a loanword is borrowed; a space keeps them two words.
        return " " if left.text[-1:].isascii() and right.text[:1].isascii() else ""

    def names(self, words, role):
        # Foreign names are written with a middle dot between their parts.
        tokens = [Tok(words[0], "PROPN", role)]
        for word in words[1:]:
            tokens += [Tok("·", "PUNCT", role), Tok(word, "PROPN", role)]
        return tokens

    def clause(self, c):
        negation = [Tok("不", "PART", "neg")] if c.negated else []
        predicate = [self.finite(c.verb, self.words[c.verb]), *self.object(c)]
        if not c.place:
            return self.subject(c.subject) + negation + predicate
        if c.place_first:
            return [Tok("在", "ADP", "fprep"), *self.place(c.place), Tok("，", "PUNCT", "comma"),
                    *self.subject(c.subject), *negation, *predicate]
        return self.subject(c.subject) + negation + [Tok("在", "ADP", "prep"), *self.place(c.place)] + predicate

    def noun_phrase(self, noun, number, adjective):
        words = [self.adjective(adjective, self.words[adjective])] if adjective else []
        words.append(self.noun(noun, self.words[noun], _is_plural(number)))
        measure = Tok(self.lex.measure[noun], "NOUN", "mw")
        if number == 1:  # "a book": one + measure word
            return [Tok("一", "NUM", "det"), measure, *words]
        if _is_counted(number):
            return [*_count(number), measure, *words]
        return words

    def subject_noun(self, noun):
        return [self.noun(noun, self.words[noun], False)]

    def question(self, c, asked):
        subject, verb = self.subject(c.subject), self.finite(c.verb, self.words[c.verb])
        if asked == "who":
            return [self.word("谁", "PRON"), verb, *self.reference(c)]
        if asked == "what":
            return [*subject, verb, self.word("什么", "PRON")]
        if asked == "where":
            return [*subject, self.word("在", "ADP"), self.word("哪里", "PRON"), verb, *self.reference(c)]
        return [*subject, verb, self.word("多少", "NUM"), Tok(self.lex.measure[c.obj], "NOUN", "mw"),
                self.noun(c.obj, self.words[c.obj], True)]

    def about(self, person):
        return [self.word("关于", "ADP"), *self.person(person), self.word("，", "PUNCT"), self.word("哪句", "PRON"),
                self.word("对", "ADJ")]

    def predicate(self, noun, adjective):
        return [*self.subject_noun(noun), self.word("很", "ADV"), self.adjective(adjective, self.words[adjective])]


_GRAMMARS: dict[str, type[Grammar]] = {"en": English, "de": German, "ru": Russian, "ar": Arabic, "zh": Chinese}


@functools.lru_cache(maxsize=32)
def grammar(seed: int, lang: str) -> Grammar:
    return _GRAMMARS[lang](lexicon(seed))


# ---------------------------------------------------------------------------------------------
# Drawing facts


def _clauses(rng: random.Random, count: int, *, adjective=0.5, place=0.5, counted=0.5, indefinite=0.15,
             full_name=0.3, negated=0.0, front=0.25) -> list[Clause]:
    """`count` clauses with distinct people, verb groups, objects, adjectives, places and counts,
    so that a question or hypothesis about one of them can only be about that one."""
    firsts, groups = rng.sample(FIRST_NAMES, count), rng.sample(_VERB_GROUPS, count)
    nouns, adjectives = rng.sample(NOUNS, count), rng.sample(ADJECTIVES, count)
    places, counts = rng.sample(PLACES, count), rng.sample(COUNTS, count)
    clauses = []
    for i in range(count):
        roll = rng.random()
        has_place = rng.random() < place
        clauses.append(Clause(
            subject=Person(firsts[i], rng.choice(SURNAMES) if rng.random() < full_name else None),
            verb=rng.choice(groups[i]),
            obj=nouns[i],
            number=counts[i] if roll < counted else 1 if roll < counted + indefinite else None,
            adjective=adjectives[i] if rng.random() < adjective else None,
            place=places[i] if has_place else None,
            negated=rng.random() < negated,
            place_first=has_place and i == 0 and rng.random() < front,
        ))
    return clauses


def _surface(rng: random.Random, clause: Clause, front=0.3) -> Clause:
    return replace(clause, place_first=bool(clause.place) and rng.random() < front)


def _droppable(clause: Clause) -> list[str]:
    """Modifiers whose removal leaves a fact the clause entails."""
    present = [name for name in ("adjective", "place") if getattr(clause, name)]
    return present + (["number"] if _is_counted(clause.number) else [])


_REMOVED = {"adjective": {"adjective": None}, "place": {"place": None, "place_first": False}, "number": {"number": 0}}


def _without(clause: Clause, modifiers) -> Clause:
    changes = {}
    for modifier in modifiers:
        changes.update(_REMOVED[modifier])
    return replace(clause, **changes)


def _some_dropped(rng: random.Random, clause: Clause, at_least=0) -> Clause:
    present = _droppable(clause)
    return _without(clause, rng.sample(present, rng.randint(min(at_least, len(present)), len(present))))


def _unused(rng: random.Random, pool, used) -> str:
    return rng.choice([item for item in pool if item not in used])


def _askable(clause: Clause) -> list[str]:
    return ["who", "what"] + (["where"] if clause.place else []) + (["how_many"] if _is_counted(clause.number) else [])


# --- hypotheses about one clause of a premise (NLI, multiple choice) -------------------------
# Each lists the moves open to `target` and makes one of them; all take the premise, to share one signature.


def _entailed(rng, target: Clause, premise: list[Clause]) -> Clause | None:
    moves = []
    if _droppable(target):
        moves.append(lambda: _surface(rng, _some_dropped(rng, target, at_least=1)))
    if target.place:
        moves.append(lambda: replace(target, place_first=not target.place_first))
    elif len(premise) > 1:
        moves.append(lambda: target)
    partner = VERBS[target.verb][1]
    if partner:  # buying the books means not selling them
        moves.append(lambda: _surface(rng, replace(target, verb=partner, negated=True)))
    return rng.choice(moves)() if moves else None


def _contradicted(rng, target: Clause, premise: list[Clause]) -> Clause:
    moves = [lambda: replace(_some_dropped(rng, target), negated=True)]
    partner = VERBS[target.verb][1]
    if partner:
        moves.append(lambda: replace(target, verb=partner))
    if target.number is not None:  # an exact count ("a book", "3 books") against another one
        moves.append(lambda: replace(target, number=rng.choice([n for n in (1, *COUNTS) if n != target.number])))
    return _surface(rng, rng.choice(moves)())


def _neutral(rng, target: Clause, premise: list[Clause]) -> Clause:
    """Adds what the premise does not say: a modifier, another verb or another object; possibly negated."""
    moves = []
    if not target.adjective:
        moves.append(lambda: replace(target, adjective=_unused(rng, ADJECTIVES, [c.adjective for c in premise])))
    if not target.place:
        moves.append(lambda: replace(target, place=_unused(rng, PLACES, [c.place for c in premise])))
    related_verbs = [verb for c in premise for verb in (c.verb, VERBS[c.verb][1])]
    moves.append(lambda: replace(_some_dropped(rng, target), verb=_unused(rng, VERBS, related_verbs)))
    moves.append(lambda: replace(_some_dropped(rng, target), obj=_unused(rng, NOUNS, [c.obj for c in premise])))
    return _surface(rng, replace(rng.choice(moves)(), negated=rng.random() < 1 / 3))


_HYPOTHESES = {"entailment": _entailed, "neutral": _neutral, "contradiction": _contradicted}


def _nli_pair(rng) -> tuple[list[Clause], Clause, str]:
    label = rng.choice(_LABELS["nli"])
    while True:
        premise = _clauses(rng, 2 if rng.random() < 0.3 else 1)
        hypothesis = _HYPOTHESES[label](rng, rng.choice(premise), premise)
        if hypothesis:
            return premise, hypothesis, label


# --- paraphrases -------------------------------------------------------------------------------


def _arrangements(clauses: list[Clause]) -> list[list[Clause]]:
    """Every surface order of the same clauses: clause order, and the first clause's place fronted or not."""
    arranged = []
    for order in itertools.permutations(clause.meaning() for clause in clauses):
        for fronted in (False, True) if order[0].place else (False,):
            arranged.append([replace(order[0], place_first=fronted), *order[1:]])
    return arranged


def _rearranged(rng, sentence: list[Clause]) -> list[Clause] | None:
    others = [arrangement for arrangement in _arrangements(sentence) if arrangement != sentence]
    return rng.choice(others) if others else None


def _swapped(rng, sentence: list[Clause]) -> list[Clause]:
    """PAWS-style: the two clauses exchange a subject, object, modifier or count; the words stay the same."""
    a, b = sentence
    slots = ["subject", "obj"] + [slot for slot in ("adjective", "place") if getattr(a, slot) and getattr(b, slot)]
    slots += ["number"] if _is_counted(a.number) and _is_counted(b.number) else []
    slot = rng.choice(slots)
    return [replace(a, **{slot: getattr(b, slot)}), replace(b, **{slot: getattr(a, slot)})]


def _changed(rng, sentence: list[Clause]) -> list[Clause]:
    """One content word of one clause replaced by another of its kind."""
    i = rng.randrange(len(sentence))
    clause = sentence[i]
    changes = [{"verb": _unused(rng, VERBS, [clause.verb])},
               {"obj": _unused(rng, NOUNS, [c.obj for c in sentence])}]
    if clause.adjective:
        changes.append({"adjective": _unused(rng, ADJECTIVES, [c.adjective for c in sentence])})
    if clause.place:
        changes.append({"place": _unused(rng, PLACES, [c.place for c in sentence])})
    if _is_counted(clause.number):
        changes.append({"number": _unused(rng, COUNTS, [clause.number])})
    return [*sentence[:i], replace(clause, **rng.choice(changes)), *sentence[i + 1:]]


def _paraphrase_pair(rng) -> tuple[list[Clause], list[Clause], str]:
    label = rng.choice(_LABELS["paraphrase"])
    arrangements = []
    while len(arrangements) < 2:  # both labels need a second surface order of the same clauses
        arrangements = _arrangements(_clauses(rng, 2 if rng.random() < 0.6 else 1, place=0.6))
    first = rng.choice(arrangements)
    if label == "paraphrase":
        second = first
    elif len(first) == 2 and rng.random() < 0.7:
        second = _swapped(rng, first)
    else:
        second = _changed(rng, first)
    return first, _rearranged(rng, second), label


# ---------------------------------------------------------------------------------------------
# Kinds: abstract examples rendered in one language


def _tagging_clauses(rng) -> list[Clause]:
    return _clauses(rng, 2 if rng.random() < 0.3 else 1, place=0.6, full_name=0.4, negated=0.2)


def _renamed(rng, clauses: list[Clause], pool: tuple[str, ...], rate: float) -> list[Clause]:
    """Each person and each place renamed at `rate` from `pool`, word for word."""
    renamed = []
    for clause in clauses:
        subject, place = clause.subject, clause.place
        if rng.random() < rate:
            subject = Person(*(rng.choice(pool) for _ in subject.words))
        if place and rng.random() < rate:
            place = " ".join(rng.choice(pool) for _ in place.split())
        renamed.append(replace(clause, subject=subject, place=place))
    return renamed


def _translation_clauses(rng) -> list[Clause]:
    # No indefinite singulars: Russian writes "the book" and "a book" alike, and translations must be unique.
    return _clauses(rng, 2 if rng.random() < 0.25 else 1, indefinite=0.0, negated=0.2)


def _distinct(rng, sample, seen: set) -> list[Clause]:
    """A sample whose meaning is not in `seen` (retrieval needs one right answer per line)."""
    while True:
        clauses = sample(rng)
        meaning = frozenset(clause.meaning() for clause in clauses)
        if meaning not in seen:
            seen.add(meaning)
            return clauses


def _span(tokens: list[Tok], starts: list[int], roles) -> tuple[int, int]:
    """Character span of the first run of tokens whose roles are in `roles`."""
    first = next(i for i, tok in enumerate(tokens) if tok.role in roles)
    last = first
    while last + 1 < len(tokens) and tokens[last + 1].role in roles:
        last += 1
    return starts[first], starts[last] + len(tokens[last].text)


_ANSWER_ROLES = {"who": ("person",), "what": ("det", "num", "mw", "adj", "noun"), "where": ("place",),
                 "how_many": ("num",)}


def _make_corpus(g: Grammar, rng_of, n: int, options: dict, prefix: str, split: str) -> list[dict]:
    rate = options["loanword_rate"]
    rows = []
    for i in range(n):
        rng = rng_of(i)
        line = _restatement(rng, g) if rng.random() < options["restate_rate"] else _corpus_tokens(rng, g)
        tokens = [tok._replace(text=tok.loan) if tok.loan and rng.random() < rate else tok for tok in line]
        rows.append({"id": f"{prefix}-{i}", "text": g.text(tokens)})
    return rows


def _restatement(rng, g: Grammar) -> list[Tok]:
    """A fact stated twice, the second time in another order or with modifiers dropped, sometimes
    followed by a question about it. Predicting a masked word of the restatement rewards looking it
    up in the first statement; a small model trained without such lines never learns to match
    words across sentences, the skill every sentence-pair task needs (issue 20: its pair tasks
    stayed at chance). The lines keep every construction of the plain corpus lines (negation,
    questions, things as subjects, descriptions), so the tokenizer still meets all of them."""
    roll = rng.random()
    if roll < 0.1:
        description = g.predicate_sentence(rng.choice(NOUNS), rng.choice(ADJECTIVES))
        return description + description
    if roll < 0.25:
        subject, obj = rng.sample(NOUNS, 2)
        clauses = [replace(_clauses(rng, 1, place=0.6, negated=0.2)[0], subject=subject, obj=obj)]
    else:
        clauses = _clauses(rng, 2 if rng.random() < 0.4 else 1, place=0.6, negated=0.2)
    arrangements = _arrangements(clauses)
    first, second = rng.choice(arrangements), rng.choice(arrangements)
    if rng.random() < 0.5:  # a negated fact entails nothing with fewer modifiers: it is kept whole
        second = [clause if clause.negated else _some_dropped(rng, clause) for clause in second]
    tokens = g.sentence(first) + g.sentence(second)
    askable = [clause for clause in clauses if not clause.negated and not isinstance(clause.subject, str)]
    if askable and rng.random() < 0.35:
        clause = rng.choice(askable)
        tokens += g.question_sentence(clause, rng.choice(_askable(clause)))
    return tokens


def _corpus_tokens(rng, g: Grammar) -> list[Tok]:
    """One line of varied monolingual text: statements, negations, counts, questions, descriptions."""
    roll = rng.random()
    if roll < 0.35:
        return g.sentence(_clauses(rng, 1, negated=0.25))
    if roll < 0.50:
        return g.sentence(_clauses(rng, 2, negated=0.15))
    if roll < 0.65:
        clause = _clauses(rng, 1)[0]
        question = g.question_sentence(clause, rng.choice(_askable(clause)))
        return g.sentence([clause]) + question if rng.random() < 0.5 else question
    if roll < 0.75:
        return g.sentence(_clauses(rng, 1, negated=0.2)) + g.sentence(_clauses(rng, 1, negated=0.2))
    if roll < 0.90:
        subject, obj = rng.sample(NOUNS, 2)
        return g.sentence([replace(_clauses(rng, 1, negated=0.2)[0], subject=subject, obj=obj)])
    return g.predicate_sentence(rng.choice(NOUNS), rng.choice(ADJECTIVES))


# --- what a perturbation must leave as it is (xstilts.robustness) ----------------------------
# Names and numbers (answers and entity tags rest on them) and negation; in a pair, also the words
# one side has and the other lacks, which decide its label. Every example but the corpus's carries
# `protected`: per text field the character spans [start, end) of those words (a list per choice
# for multiple choice), and for tagging the indices of those tokens.
KEPT_ROLES = ("person", "place", "num", "neg")


def _words(tokens: list[Tok]) -> set[str]:
    return {tok.text.lower() for tok in tokens if tok.role not in ("punct", "comma")}


def _marked(g: Grammar, tokens: list[Tok], decisive: set[str] = frozenset()) -> tuple[str, list[list[int]]]:
    """The text of `tokens` and the spans of its kept and decisive words."""
    text, starts = g.layout(tokens)
    spans = [[start, start + len(tok.text)] for tok, start in zip(tokens, starts)
             if tok.role in KEPT_ROLES or (tok.role not in ("punct", "comma") and tok.text.lower() in decisive)]
    return text, spans


def _marked_pair(g: Grammar, first: list[Tok], second: list[Tok]) -> dict:
    """text_a, text_b and their protected spans: each side's words that the other lacks decide the label."""
    text_a, spans_a = _marked(g, first, _words(first) - _words(second))
    text_b, spans_b = _marked(g, second, _words(second) - _words(first))
    return {"text_a": text_a, "text_b": text_b, "protected": {"text_a": spans_a, "text_b": spans_b}}


def _make_nli(g: Grammar, rng_of, n, options, prefix, split: str) -> list[dict]:
    rows = []
    for i in range(n):
        premise, hypothesis, label = _nli_pair(rng_of(i))
        pair = _marked_pair(g, g.sentence(premise), g.sentence([hypothesis]))
        rows.append({"id": f"{prefix}-{i}", "text_a": pair["text_a"], "text_b": pair["text_b"], "label": label,
                     "protected": pair["protected"]})
    return rows


def _make_paraphrase(g: Grammar, rng_of, n, options, prefix, split: str) -> list[dict]:
    rows = []
    for i in range(n):
        first, second, label = _paraphrase_pair(rng_of(i))
        pair = _marked_pair(g, g.sentence(first), g.sentence(second))
        rows.append({"id": f"{prefix}-{i}", "text_a": pair["text_a"], "text_b": pair["text_b"], "label": label,
                     "protected": pair["protected"]})
    return rows


def _make_span_qa(g: Grammar, rng_of, n, options, prefix, split: str) -> list[dict]:
    rows = []
    for i in range(n):
        rng = rng_of(i)
        clauses = [_surface(rng, c, front=0.25) for c in _clauses(rng, options["context_sentences"], place=0.6)]
        target = rng.randrange(len(clauses))
        asked = rng.choice(_askable(clauses[target]))
        sentences = [g.sentence([clause]) for clause in clauses]
        context, starts = g.layout([tok for sentence in sentences for tok in sentence])
        offset = sum(len(sentence) for sentence in sentences[:target])
        start, end = _span(sentences[target], starts[offset:], _ANSWER_ROLES[asked])
        question, question_spans = _marked(g, g.question_sentence(clauses[target], asked))
        context_spans = _marked(g, [tok for sentence in sentences for tok in sentence])[1]
        rows.append({"id": f"{prefix}-{i}", "context": context, "question": question,
                     "answers": {"text": [context[start:end]], "answer_start": [start]},
                     "protected": {"question": question_spans, "context": context_spans}})
    return rows


def _make_multiple_choice(g: Grammar, rng_of, n, options, prefix, split: str) -> list[dict]:
    rows = []
    for i in range(n):
        rng = rng_of(i)
        # A counted object always allows an entailed choice (drop a modifier) and many wrong counts.
        fact = _clauses(rng, 1, counted=1.0)[0]
        right = _entailed(rng, fact, [fact])
        wrong, meanings = [], {right.meaning()}
        while len(wrong) < 3:
            candidate = rng.choice((_contradicted, _neutral))(rng, fact, [fact])
            if candidate.meaning() not in meanings:
                meanings.add(candidate.meaning())
                wrong.append(candidate)
        label = rng.randrange(4)
        context_tokens = g.sentence([fact]) + g.about_sentence(fact.subject)
        choice_tokens = [g.sentence([choice]) for choice in wrong[:label] + [right] + wrong[label:]]
        # A choice's words the context lacks decide it; so do the context's words some choice lacks.
        choices = [_marked(g, tokens, _words(tokens) - _words(context_tokens)) for tokens in choice_tokens]
        context, context_spans = _marked(g, context_tokens, set().union(*(_words(context_tokens) - _words(tokens)
                                                                          for tokens in choice_tokens)))
        rows.append({"id": f"{prefix}-{i}", "context": context, "choices": [text for text, _ in choices],
                     "label": label, "protected": {"context": context_spans, "choices": [spans for _, spans in choices]}})
    return rows


def _ner_tags(tokens: list[Tok]) -> list[str]:
    tags, previous = [], None
    for tok in tokens:
        entity = {"person": "PER", "place": "LOC"}.get(tok.role)
        tags.append(f"{'I' if tok.role == previous else 'B'}-{entity}" if entity else "O")
        previous = tok.role
    return tags


def _ccg_tags(tokens: list[Tok]) -> list[str]:
    tags = []
    for i, tok in enumerate(tokens):
        if tok.role in ("person", "place"):
            is_last = i + 1 == len(tokens) or tokens[i + 1].role != tok.role
            tags.append("NP" if is_last else "NP/NP")
        else:
            tags.append(CCG_BY_ROLE[tok.role])
    return tags


_TAGGERS: dict[str, Callable[[list[Tok]], list[str]]] = {
    "pos": lambda tokens: [tok.pos for tok in tokens], "ner": _ner_tags, "ccg": _ccg_tags,
}


def _make_tagging(kind: str):
    def make(g: Grammar, rng_of, n, options, prefix, split: str) -> list[dict]:
        pool, rows = held_out_names(g.lex.seed)[split], []
        for i in range(n):
            rng = rng_of(i)
            tokens = g.sentence(_renamed(rng, _tagging_clauses(rng), pool, options["unseen_name_rate"]))
            rows.append({"id": f"{prefix}-{i}", "tokens": [tok.text for tok in tokens], "tags": _TAGGERS[kind](tokens),
                         "protected": [j for j, tok in enumerate(tokens) if tok.role in KEPT_ROLES]})
        return rows
    return make


def _make_parallel(g: Grammar, rng_of, n, options, prefix, split: str) -> list[dict]:
    english, seen, rows = _english(g), set(), []
    for i in range(n):
        clauses = _distinct(rng_of(i), _translation_clauses, seen)
        src, spans = _marked(g, g.sentence(clauses))
        rows.append({"id": f"{prefix}-{i}", "src": src, "tgt": english.say(clauses), "protected": {"src": spans}})
    return rows


def _make_mining(g: Grammar, rng_of, n, options, prefix, split: str) -> list[dict]:
    """Gold pairs plus lines with no translation on the other side; every line's meaning is unique."""
    english, seen, rng = _english(g), set(), rng_of("all")
    extra = round(n * options["distractor_ratio"])
    gold = [_distinct(rng, _translation_clauses, seen) for _ in range(n)]
    source_only = [_distinct(rng, _translation_clauses, seen) for _ in range(extra)]
    target_only = [_distinct(rng, _translation_clauses, seen) for _ in range(extra)]
    rows = [{"id": f"{prefix}-{i}", **_marked_src(g, c), "tgt": english.say(c)} for i, c in enumerate(gold)]
    rows += [{"id": f"{prefix}-src{j}", **_marked_src(g, c), "tgt": None} for j, c in enumerate(source_only)]
    rows += [{"id": f"{prefix}-tgt{j}", "src": None, "tgt": english.say(c)} for j, c in enumerate(target_only)]
    rng.shuffle(rows)
    return rows


def _marked_src(g: Grammar, clauses: list[Clause]) -> dict:
    src, spans = _marked(g, g.sentence(clauses))
    return {"src": src, "protected": {"src": spans}}


def _english(g: Grammar) -> Grammar:
    """English over the same lexicon as `g`: the target side of translation pairs."""
    return English(g.lex)


_MAKERS = {
    "corpus": _make_corpus, "nli": _make_nli, "paraphrase": _make_paraphrase, "span_qa": _make_span_qa,
    "multiple_choice": _make_multiple_choice, "ccg": _make_tagging("ccg"), "pos": _make_tagging("pos"),
    "ner": _make_tagging("ner"), "parallel": _make_parallel, "mining": _make_mining,
}


# ---------------------------------------------------------------------------------------------
# Public entry points


def generate(kind: str, *, split: str, lang: str, n: int, seed: int, stream: str, **options) -> list[dict]:
    """n examples of `kind` in `lang`, deterministic in every argument.

    `stream` is the task name: tasks sharing a kind ("mnli", "xnli") draw different facts. Facts
    depend on (seed, kind, split, stream, options) and not on `lang`, so the same id is the same
    fact in every language, except for "corpus", whose lines also depend on `lang` (monolingual
    corpora). The lexicon depends on `seed` only. Unknown kind, lang, split or option: ValueError.
    """
    resolved = _resolved_options(kind, lang, split, n, options)
    facts = ["xstilts", seed, kind, split, stream, json.dumps(resolved, sort_keys=True)]
    if kind == "corpus":
        facts.append(lang)
    return _MAKERS[kind](grammar(seed, lang), lambda i: _rng(*facts, i), n, resolved, f"{stream}-{split}", split)


def label_names(kind: str) -> list[str]:
    """Labels of a classification kind or tags of a tagging kind; [] for kinds without a label set."""
    _known(kind, KINDS, "kind")
    return list(_LABELS.get(kind, []))


def _known(value, allowed, what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of: {', '.join(allowed)}")


def _resolved_options(kind: str, lang: str, split: str, n: int, options: dict) -> dict:
    _known(kind, KINDS, "kind")
    _known(lang, LANGUAGES, "lang")
    _known(split, SPLITS, "split")
    if kind in ("parallel", "mining") and lang == "en":
        raise ValueError(f"kind {kind!r} pairs a language with English, so lang 'en' has no examples")
    if kind == "ccg" and lang != "en":
        raise ValueError(f"kind 'ccg' is English-only; got lang {lang!r}")
    if not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    defaults = OPTIONS.get(kind, {})
    for name in options:
        if name not in defaults:
            raise ValueError(f"unknown option {name!r} for kind {kind!r}; it takes: {', '.join(defaults) or 'none'}")
    resolved = {**defaults, **options}
    for name, value in resolved.items():
        kind_of, low, high = _OPTION_RANGES[name]
        if not isinstance(value, kind_of) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"option {name!r} must be a number in [{low}, {high}], got {value!r}")
    return resolved


_OPTION_RANGES = {"loanword_rate": ((int, float), 0, 1), "restate_rate": ((int, float), 0, 1),
                  "unseen_name_rate": ((int, float), 0, 1),
                  "distractor_ratio": ((int, float), 0, 100),
                  "context_sentences": (int, 1, 8)}
