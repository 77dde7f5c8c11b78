"""Character and word noise on one text, deterministic for its random generator.

A text is cut into units: words (runs without spaces) in scripts written with spaces, single
characters in scripts written without (Chinese, Japanese, Thai), so that a rate means "share of
words" in both. Units that hold a digit or overlap a protected character span are never edited:
numbers and answer spans decide labels. Every edit is recorded as {op, start, before, after},
`start` being the unit's offset in the original text.
"""

from __future__ import annotations

import functools
import random
import re

import regex

# Scripts an inserted or substituted character may come from; a character outside them is left alone.
SCRIPTS: tuple[str, ...] = ("Latin", "Cyrillic", "Arabic", "Han", "Hiragana", "Katakana", "Hangul", "Thai",
                            "Devanagari", "Bengali", "Tamil", "Telugu", "Greek", "Hebrew", "Georgian", "Armenian")
UNSPACED_SCRIPTS = {"Han", "Hiragana", "Katakana", "Thai"}
CHAR_OPS: tuple[str, ...] = ("swap", "delete", "insert", "substitute")
WORD_OPS: tuple[str, ...] = ("drop", "repeat", "swap")


@functools.lru_cache(maxsize=65536)
def script_of(char: str) -> str | None:
    for script in SCRIPTS:
        if regex.match(rf"\p{{Script={script}}}", char):
            return script
    return None


def alphabets(texts) -> dict[str, list[str]]:
    """The letters of each script seen in `texts` (a language's own data), sorted: what noise may insert."""
    seen: dict[str, set[str]] = {}
    for text in texts:
        for char in text:
            script = script_of(char)
            if script:
                seen.setdefault(script, set()).add(char)
    return {script: sorted(chars) for script, chars in seen.items()}


def units(text: str) -> list[tuple[int, int]]:
    """(start, end) of each unit: a character of an unspaced script, else a run of other non-space characters."""
    spans = []
    for match in re.finditer(r"\S+", text):
        start = match.start()
        run_start = start
        for i, char in enumerate(match.group(), start):
            if script_of(char) in UNSPACED_SCRIPTS:
                if run_start < i:
                    spans.append((run_start, i))
                spans.append((i, i + 1))
                run_start = i + 1
        if run_start < match.end():
            spans.append((run_start, match.end()))
    return spans


def editable(text: str, span: tuple[int, int], protected) -> bool:
    start, end = span
    return not any(char.isdigit() for char in text[start:end]) and \
        not any(start < p_end and p_start < end for p_start, p_end in protected)


def _letters(word: str) -> list[int]:
    return [i for i, char in enumerate(word) if script_of(char)]


def _char_edit(word: str, rng: random.Random, alphabet: dict[str, list[str]]) -> tuple[str, str] | None:
    """One character edit of `word` (op, new word), or None where no op fits it."""
    letters = _letters(word)
    ops = [op for op in CHAR_OPS if op in ("insert", "substitute") or len(letters) >= 2]
    if not letters or not ops:
        return None
    op = rng.choice(ops)
    i = rng.choice(letters)
    pool = alphabet.get(script_of(word[i]), [])
    if op == "swap":
        pairs = [j for j in letters if j + 1 < len(word) and j + 1 in letters and word[j] != word[j + 1]]
        if not pairs:
            return None
        j = rng.choice(pairs)
        return op, word[:j] + word[j + 1] + word[j] + word[j + 2:]
    if op == "delete":
        return op, word[:i] + word[i + 1:]
    others = [char for char in pool if char != word[i]] if op == "substitute" else pool
    if not others:
        return None
    char = rng.choice(others)
    return op, word[:i] + char + word[i + (op == "substitute"):]


def char_noise(text: str, rate: float, rng: random.Random, *, alphabet, protected=()) -> tuple[str, list[dict]]:
    """Each editable unit, at `rate`, gets one swap, deletion, insertion or substitution; inserted
    and substituted characters come from the same script's letters in `alphabet`."""
    out, changes, last = [], [], 0
    for start, end in units(text):
        if not editable(text, (start, end), protected) or rng.random() >= rate:
            continue
        edit = _char_edit(text[start:end], rng, alphabet)
        if edit is None:
            continue
        op, new = edit
        if len(new) == 0:  # a one-letter unit of an unspaced script is not deleted away: it is replaced
            continue
        out += [text[last:start], new]
        last = end
        changes.append({"op": op, "start": start, "before": text[start:end], "after": new})
    return "".join(out) + text[last:], changes


def word_noise(text: str, rate: float, rng: random.Random, *, protected=()) -> tuple[str, list[dict]]:
    """Each editable unit, at `rate`, is dropped, repeated or swapped with the next editable unit."""
    spans = units(text)
    if not spans:
        return text, []
    pieces = [text[start:end] for start, end in spans]
    gaps = [text[:spans[0][0]]] + [text[spans[i - 1][1]:spans[i][0]] for i in range(1, len(spans))]
    can_edit = [editable(text, span, protected) for span in spans]
    changes, i = [], 0
    while i < len(spans):
        if not can_edit[i] or rng.random() >= rate:
            i += 1
            continue
        op, before = rng.choice(WORD_OPS), pieces[i]
        if op == "swap" and i + 1 < len(spans) and can_edit[i + 1] and pieces[i] != pieces[i + 1]:
            pieces[i], pieces[i + 1] = pieces[i + 1], before
            changes.append({"op": op, "start": spans[i][0], "before": [before, pieces[i]], "after": [pieces[i], before]})
            i += 2
            continue
        if op == "drop" and sum(bool(piece) for piece in pieces) > 1:
            pieces[i] = ""
        elif op == "repeat":
            # written as the text writes its units: with a space where the unit stands between spaces
            beside = (gaps[i] if i else "") + (gaps[i + 1] if i + 1 < len(spans) else "")
            pieces[i] = before + (" " if " " in beside else "") + before
        else:
            i += 1
            continue
        changes.append({"op": op, "start": spans[i][0], "before": before, "after": pieces[i]})
        i += 1
    out = ""
    for gap, piece in zip(gaps, pieces):
        if piece:  # a dropped unit takes the gap before it along
            out += (gaps[0] if not out else gap) + piece
    return out + text[spans[-1][1]:], changes
