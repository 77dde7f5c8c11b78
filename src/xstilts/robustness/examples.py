"""A perturbation kind applied to one example of any task type, keeping what the example is scored on.

Labels of sentence-level tasks are kept as they are: noise never edits digits, nor the spans an
example lists under `protected` (the generator marks names, numbers, negation and the words of a
pair that decide its label; real data may mark its own). Tagging keeps one tag per
token and never drops, repeats or moves a token of an entity, so IOB2 stays valid. Span QA never
edits an answer and moves every `answer_start` to where its answer now is. A parallel pair
(retrieval) is perturbed on the side a perturbation names: the other language's (`src`, the
default), English's (`tgt`) or both, each side with its own language's letters and dictionaries.
The result carries `changes`: per field, the edits made.
"""

from __future__ import annotations

import random

from .codeswitch import codeswitch
from .noise import char_noise, word_noise

TEXT_FIELDS = {"classification": ("text_a", "text_b")}
# The fields of a parallel pair each side names.
PARALLEL_SIDES = {"other": ("src",), "english": ("tgt",), "both": ("src", "tgt")}
KINDS = ("char_noise", "word_noise", "codeswitch")


def texts_of(example: dict, task_type: str, side: str = "other") -> list[str]:
    """The texts of an example that a perturbation may edit (a QA answer's words among them);
    `side`: of a parallel pair, which (PARALLEL_SIDES)."""
    if task_type == "retrieval":
        return [example[f] for f in PARALLEL_SIDES[side] if example.get(f) is not None]
    if task_type in TEXT_FIELDS:
        return [example[f] for f in TEXT_FIELDS[task_type] if example.get(f) is not None]
    if task_type == "multiple_choice":
        return [example["context"], *example["choices"]]
    if task_type == "span_qa":
        return [example["question"], example["context"]]
    if task_type == "tagging":
        return list(example["tokens"])
    raise ValueError(f"no noise for task type {task_type!r}")


def perturb_example(example: dict, task_type: str, kind: str, rate: float, rng: random.Random,
                    alphabet: dict[str, list[str]] | None = None,
                    dictionaries: dict[str, dict[str, list[str]]] | None = None, *, side: str = "other",
                    english: tuple[dict | None, dict | None] = (None, None)) -> dict:
    """`alphabet` (the language's letters by script) for char_noise; `dictionaries` (target
    language -> entries, from the example's language) for codeswitch. A parallel pair's `side`
    (PARALLEL_SIDES); its English side takes `english`: (alphabet, dictionaries from English)."""
    if kind not in KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; expected one of: {', '.join(KINDS)}")

    def noisy(text, protected=(), resources=(alphabet, dictionaries)):
        letters, switching = resources
        if kind == "char_noise":
            return char_noise(text, rate, rng, alphabet=letters or {}, protected=protected)
        if kind == "word_noise":
            return word_noise(text, rate, rng, protected=protected)
        switched, changes, _ = codeswitch(text, rate, rng, dictionaries=switching or {}, protected=protected)
        return switched, changes

    out, changes = dict(example), {}
    kept = example.get("protected") or {}
    if task_type == "retrieval":
        for field in PARALLEL_SIDES[side]:
            resources = english if field == "tgt" else (alphabet, dictionaries)
            out[field], changes[field] = noisy(example[field], _spans(kept.get(field)), resources)
    elif task_type in TEXT_FIELDS:
        for field in TEXT_FIELDS[task_type]:
            if example.get(field) is not None:
                out[field], changes[field] = noisy(example[field], _spans(kept.get(field)))
    elif task_type == "multiple_choice":
        out["context"], changes["context"] = noisy(example["context"], _spans(kept.get("context")))
        kept_choices = kept.get("choices") or [()] * len(example["choices"])
        perturbed = [noisy(choice, _spans(spans)) for choice, spans in zip(example["choices"], kept_choices)]
        out["choices"] = [text for text, _ in perturbed]
        changes["choices"] = [edits for _, edits in perturbed]
    elif task_type == "span_qa":
        out["question"], changes["question"] = noisy(example["question"], _spans(kept.get("question")))
        out["context"], out["answers"], changes["context"] = _context_around_answers(example, noisy,
                                                                                     _spans(kept.get("context")))
    elif task_type == "tagging":
        out["tokens"], out["tags"], changes["tokens"] = _tagged(example["tokens"], example["tags"], kind, rate, rng,
                                                                noisy, set(example.get("protected") or ()))
    else:
        raise ValueError(f"no noise for task type {task_type!r}")
    out.pop("protected", None)  # its spans and indices were of the clean text
    out["changes"] = changes
    return out


def _spans(spans) -> list[tuple[int, int]]:
    return [tuple(span) for span in spans or ()]


def _context_around_answers(example: dict, noisy, kept: list[tuple[int, int]] = ()):
    """The context perturbed between the answers, which stay as they are at their new offsets;
    `kept` spans (of the whole context) are never edited."""
    context, answers = example["context"], example["answers"]
    spans = sorted((start, start + len(text)) for start, text in zip(answers["answer_start"], answers["text"]))
    regions = []
    for start, end in spans:  # overlapping answers (SQuAD dev has several per question) form one region
        if regions and start <= regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], end)
        else:
            regions.append([start, end])
    pieces, changes, moved, last = [], [], {}, 0
    for start, end in regions + [[len(context), len(context)]]:
        text, edits = noisy(context[last:start], [(s - last, e - last) for s, e in kept if s < start and e > last])
        offset = sum(map(len, pieces))
        changes += [{**edit, "start": edit["start"] + last} for edit in edits]
        pieces += [text, context[start:end]]
        moved[start] = offset + len(text)
        last = end
    new_starts = []
    for start in answers["answer_start"]:
        region = max(r_start for r_start, _ in regions if r_start <= start)
        new_starts.append(moved[region] + start - region)
    return "".join(pieces), {**answers, "answer_start": new_starts}, changes


def _tagged(tokens: list[str], tags: list[str], kind: str, rate: float, rng: random.Random, noisy, kept=frozenset()):
    """`kept`: indices of tokens never edited, dropped, repeated or moved."""
    if kind in ("char_noise", "codeswitch"):  # within each token; a token never becomes empty
        perturbed = [(token, []) if i in kept else noisy(token) for i, token in enumerate(tokens)]
        new = [text if text else token for token, (text, _) in zip(tokens, perturbed)]
        edits = [{**edit, "token": i} for i, (_, token_edits) in enumerate(perturbed) for edit in token_edits]
        return new, list(tags), edits
    iob = all(tag == "O" or tag[:2] in ("B-", "I-") for tag in tags)
    movable = [(not iob or tag == "O") and not any(char.isdigit() for char in token) and i not in kept
               for i, (token, tag) in enumerate(zip(tokens, tags))]
    rows, edits, i = list(zip(tokens, tags)), [], 0
    out = []
    while i < len(rows):
        if not movable[i] or rng.random() >= rate:
            out.append(rows[i])
            i += 1
            continue
        op = rng.choice(("drop", "repeat", "swap"))
        if op == "swap" and i + 1 < len(rows) and movable[i + 1]:
            out += [rows[i + 1], rows[i]]
            edits.append({"op": op, "token": i, "before": [rows[i][0], rows[i + 1][0]], "after": [rows[i + 1][0], rows[i][0]]})
            i += 2
            continue
        if op == "drop" and len(rows) - sum(1 for e in edits if e["op"] == "drop") > 1:
            edits.append({"op": op, "token": i, "before": rows[i][0], "after": ""})
        elif op == "repeat":
            out += [rows[i], rows[i]]
            edits.append({"op": op, "token": i, "before": rows[i][0], "after": [rows[i][0], rows[i][0]]})
        else:
            out.append(rows[i])
        i += 1
    return [token for token, _ in out], [tag for _, tag in out], edits
