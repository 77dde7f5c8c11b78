"""Dictionary code-switching (as PolyGloss and CoSDA-ML do it): words of the input replaced, at a
rate, by their translation into one of several languages.

Dictionaries are MUSE's format: a file `{src}-{tgt}.txt` per language pair, one `source target`
pair per line (space or tab), a source word on several lines when it has several translations. A
pair without a file is skipped and named in the result, never silently. The demo's dictionaries
come from the generator's lexicon (`synthetic_dictionaries`, `write_dictionaries`).
"""

from __future__ import annotations

import random
from pathlib import Path

import regex

from .noise import UNSPACED_SCRIPTS, editable, script_of, units

LONGEST_UNSPACED_WORD = 4  # characters tried at once where a script writes no spaces
_EDGES = regex.compile(r"^(\p{P}*)(.*?)(\p{P}*)$")


def read_dictionary(path) -> dict[str, list[str]]:
    """source word -> its translations in file order; a clear error naming the file and line."""
    entries: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 2:
                raise ValueError(f"dictionary {path}, line {number}: expected 'source target' (MUSE format), "
                                 f"got {line.rstrip()!r}")
            entries.setdefault(fields[0], []).append(fields[1])
    if not entries:
        raise ValueError(f"dictionary {path}: no entries")
    return entries


def load_dictionaries(folder, src: str, targets) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    """The dictionaries from `src` into each of `targets` found in `folder`, and the pairs with no file."""
    found, missing = {}, []
    for tgt in targets:
        if tgt == src:
            continue
        path = Path(folder) / f"{src}-{tgt}.txt"
        if path.is_file():
            found[tgt] = read_dictionary(path)
        else:
            missing.append(f"{src}-{tgt}")
    return found, missing


def synthetic_dictionaries(seed: int) -> dict[tuple[str, str], dict[str, list[str]]]:
    """Every ordered pair of the generator's languages, inflected forms included: a word form of
    one language translates to the forms of another that render the same English form (the
    generator's tokens carry it as their loanword), so "книги" and "Bücher" meet at "books"."""
    from .. import synthetic

    forms = {lang: _surface_forms(synthetic, seed, lang) for lang in synthetic.LANGUAGES}
    dictionaries = {}
    for src in synthetic.LANGUAGES:
        for tgt in synthetic.LANGUAGES:
            if src != tgt:
                entries: dict[str, list[str]] = {}
                for english, src_forms in forms[src].items():
                    for form in sorted(src_forms):
                        entries.setdefault(form, []).extend(sorted(forms[tgt].get(english, ())))
                dictionaries[(src, tgt)] = {word: list(dict.fromkeys(t)) for word, t in entries.items() if t}
    return dictionaries


def _surface_forms(synthetic, seed: int, lang: str) -> dict[str, set[str]]:
    """English form -> this language's forms of it, from clauses that put every noun in every number
    with every adjective, every verb plain and negated, and every noun as a described subject."""
    g, person = synthetic.grammar(seed, lang), synthetic.Person("Anna")
    sentences = [g.predicate_sentence(noun, adjective) for noun in synthetic.NOUNS for adjective in synthetic.ADJECTIVES]
    for noun in synthetic.NOUNS:
        for number in (None, 1, 0, 3):
            for adjective in synthetic.ADJECTIVES:
                sentences.append(g.sentence([synthetic.Clause(person, "see", noun, number, adjective)]))
    for verb in synthetic.VERBS:
        for negated in (False, True):
            sentences.append(g.sentence([synthetic.Clause(person, verb, "book", negated=negated)]))
    forms: dict[str, set[str]] = {}
    for tokens in sentences:
        for i, tok in enumerate(tokens):
            english = tok.text if lang == "en" and tok.role in ("noun", "verb", "adj") else tok.loan
            text = tok.text
            if i == 0 and g.cased and not (lang == "de" and tok.role == "noun"):  # a sentence start, not a form
                text = text[:1].lower() + text[1:]
            if english:
                forms.setdefault(english, set()).add(text)
    return forms


def write_dictionaries(folder, seed: int) -> list[Path]:
    """The generator's dictionaries as MUSE files, one per ordered language pair."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    written = []
    for (src, tgt), entries in synthetic_dictionaries(seed).items():
        path = Path(folder) / f"{src}-{tgt}.txt"
        path.write_text("".join(f"{word} {translation}\n" for word, translations in entries.items()
                                for translation in translations), encoding="utf-8")
        written.append(path)
    return written


def codeswitch(text: str, rate: float, rng: random.Random, *, dictionaries: dict[str, dict[str, list[str]]],
               protected=()) -> tuple[str, list[dict], float]:
    """Each word with a translation in at least one dictionary is switched at `rate` into one of
    those languages. Returns the text, the switches ({op, start, before, after, lang}) and the share
    of words switched."""
    spans, out, changes, last, words, i = units(text), [], [], 0, 0, 0
    while i < len(spans):
        span, core = _lookup(text, spans, i, dictionaries)
        words += any(script_of(char) for char in text[spans[i][0]:spans[i][1]])
        if core is None or not editable(text, span[:2], protected):
            i += 1
            continue
        start, end, word = core
        languages = sorted(lang for lang, entries in dictionaries.items() if word in entries)
        if rng.random() < rate:
            lang = rng.choice(languages)
            translation = rng.choice(dictionaries[lang][word])
            out += [text[last:start], translation]
            last = end
            changes.append({"op": "switch", "start": start, "before": word, "after": translation, "lang": lang})
        i += span[2]
    return "".join(out) + text[last:], changes, (len(changes) / words if words else 0.0)


def _lookup(text, spans, i, dictionaries):
    """The longest dictionary word starting at unit i: ((start, end, units used), (start, end, word))."""
    start = spans[i][0]
    if script_of(text[start]) in UNSPACED_SCRIPTS:
        for size in range(LONGEST_UNSPACED_WORD, 0, -1):
            chosen = spans[i:i + size]
            if len(chosen) == size and all(a[1] == b[0] for a, b in zip(chosen, chosen[1:])):
                word = text[start:chosen[-1][1]]
                if any(word in entries for entries in dictionaries.values()):
                    return (start, chosen[-1][1], size), (start, chosen[-1][1], word)
        return (start, spans[i][1], 1), None
    end = spans[i][1]
    lead, core, _ = _EDGES.match(text[start:end]).groups()
    word_start = start + len(lead)
    for word in (core, core.lower()):
        if word and any(word in entries for entries in dictionaries.values()):
            return (start, end, 1), (word_start, word_start + len(core), word)
    return (start, end, 1), None
