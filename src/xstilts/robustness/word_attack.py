"""Discrete word-substitution attacks guided by the gradient, batched across examples: HotFlip
(Ebrahimi et al. 2018) with whole words of the tokenizer's vocabulary as candidates, and the same
search with a word's dictionary translations as its only candidates (white-box PolyGloss, Tan and
Joty 2021), for classification and multiple choice.

A text is cut into words as the perturbations cut it (xstilts.robustness.noise.units: single
characters in scripts written without spaces, so that a budget counts characters there); a word's
leading and trailing punctuation stays, and words with digits or inside an example's `protected`
spans are never changed (they decide labels). Each round, for every example not yet fooled:

1. one forward and backward pass gives the gradient of the example's loss at every input embedding;
2. every (word, candidate) pair is ranked by the first-order change of the loss: the candidate's
   pieces put in place of the word's pieces, position by position (pieces beyond the candidate's
   removed, its pieces beyond the word's ignored), summed over every row the word is in (a
   multiple-choice context is in each choice's row);
3. the `CHECKED` best pairs are scored by a forward pass each, and the one with the highest loss is
   kept if it raises the loss (else the search stops: no word helps).

At most `max_changes` words change, each at most once, and the search stops once the prediction
is wrong. First-order scores and losses are rounded to `DECIMALS` before they are compared, and ties
go to the lowest token id, then the earliest word: the path of an example does not depend on which
others share its batch (their padding moves the floats in the last bits only), and a larger budget
extends the same path, so the success rate cannot fall as the budget grows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import regex
import torch
import torch.nn.functional as F

from ..inference import predict, to_device
from .attacked_split import scored, subset
from .noise import UNSPACED_SCRIPTS, editable, script_of, units

CHECKED = 8  # the first-order best candidates scored by a forward pass, per example and round
DECIMALS = 4  # scores are compared at this precision (padding moves the last bits)
WORD_ATTACK_TYPES = ("classification", "multiple_choice")
_EDGES = regex.compile(r"^(\p{P}*)(.*?)(\p{P}*)$")


@dataclass(frozen=True)
class WordAttack:
    max_changes: int  # the budget: words changed (characters where the script has no spaces)
    candidates: str = "vocabulary"  # or "dictionary" (codeswitch_attack)

    def __post_init__(self):
        if self.max_changes < 1:
            raise ValueError(f"word attack: max_changes must be >= 1 (got {self.max_changes})")
        if self.candidates not in ("vocabulary", "dictionary"):
            raise ValueError(f"word attack: unknown candidates {self.candidates!r}")


# ---------------------------------------------------------------------------- texts as words
def fields_of(example: dict, task_type: str) -> dict[str, str]:
    """The texts an attack may edit, by field (`choices/<i>` for a multiple-choice ending)."""
    if task_type == "classification":
        return {f: example[f] for f in ("text_a", "text_b") if example.get(f) is not None}
    if task_type == "multiple_choice":
        return {"context": example["context"], **{f"choices/{i}": c for i, c in enumerate(example["choices"])}}
    raise ValueError(f"word attacks apply to {', '.join(WORD_ATTACK_TYPES)}, not {task_type!r}")


def with_fields(example: dict, texts: dict[str, str]) -> dict:
    out = dict(example)
    for field, text in texts.items():
        if field.startswith("choices/"):
            out["choices"] = list(out["choices"])
            out["choices"][int(field.split("/")[1])] = text
        else:
            out[field] = text
    return out


def _text(example: dict, field: str) -> str:
    return example["choices"][int(field.split("/")[1])] if field.startswith("choices/") else example[field]


def _protected(example: dict, field: str) -> list[tuple[int, int]]:
    """The spans of a field the example marks as deciding its label (the generator's `protected`)."""
    kept = example.get("protected") or {}
    if field.startswith("choices/"):
        per_choice, i = kept.get("choices") or [], int(field.split("/")[1])
        spans = per_choice[i] if i < len(per_choice) else ()
    else:
        spans = kept.get(field)
    return [tuple(span) for span in spans or ()]


def segments(text: str, protected=()) -> list[tuple[str, bool]]:
    """The text as consecutive pieces (piece, whether it is a word an attack may change): each unit's
    letters apart from its edge punctuation, the rest (spaces, punctuation, digits, protected) frozen."""
    pieces, last = [], 0
    for start, end in units(text):
        lead, core, _ = _EDGES.match(text[start:end]).groups()
        core_start = start + len(lead)
        core_end = core_start + len(core)
        if not core or script_of(core[0]) is None or not editable(text, (start, end), protected):
            continue
        pieces += [(text[last:core_start], False), (core, True)]
        last = core_end
    pieces.append((text[last:], False))
    return [(piece, word) for piece, word in pieces if piece or word]


# ---------------------------------------------------------------------------- candidates
class Vocabulary:
    """Whole words of a tokenizer's vocabulary by script: a piece that starts a word (`▁`, or the
    bare character of an unspaced script) and whose letters are all of one script."""

    def __init__(self, tokenizer):
        by_script: dict[str, dict[str, int]] = {}
        specials = {token.content for token in tokenizer.backend.get_added_tokens_decoder().values()}
        for piece, token_id in sorted(tokenizer.backend.get_vocab().items(), key=lambda item: item[1]):
            if piece in specials:
                continue
            word = piece[1:] if piece.startswith("▁") else piece
            scripts = {script_of(char) for char in word}
            if not word or len(scripts) != 1 or None in scripts:
                continue
            (script,) = scripts
            if script in UNSPACED_SCRIPTS and len(word) != 1:
                continue  # a budget counts characters there: one character for one
            if script not in UNSPACED_SCRIPTS and not piece.startswith("▁"):
                continue  # a word's continuation, not a word
            by_script.setdefault(script, {}).setdefault(word, token_id)  # the lowest id of a word
        self.words = {script: list(found) for script, found in by_script.items()}
        self.ids = {script: torch.tensor(list(found.values()), dtype=torch.long) for script, found in by_script.items()}


def dictionary_candidates(word: str, dictionaries: dict[str, dict[str, list[str]]]) -> list[str]:
    """A word's translations in every dictionary (its own form, then lower-cased), first seen first."""
    found: list[str] = []
    for form in (word, word.lower()):
        for lang in sorted(dictionaries):
            found += dictionaries[lang].get(form, [])
    return [t for t in dict.fromkeys(found) if t != word]


# ---------------------------------------------------------------------------- the search
@dataclass
class _State:
    example: dict
    pieces: dict[str, list[tuple[str, bool]]]  # field -> segments
    changed: set  # (field, segment index)
    changes: list
    loss: float = 0.0
    done: bool = False
    forward: int = 1  # the pass that found the clean loss
    backward: int = 0


def attack_examples(model, head: str, task, examples: list[dict], tokenizer, settings: dict, attack: WordAttack, *,
                    pad_id: int, batch_size: int, device: torch.device,
                    dictionaries: dict[str, dict[str, list[str]]] | None = None,
                    vocabulary: Vocabulary | None = None) -> list[dict]:
    """Each example's adversarial version (`changes`: the words changed, in order, each
    {field, word: its index among the field's segments, before, after}) with the forward and backward
    passes its search ran. `vocabulary`: the tokenizer's, where the caller attacks several splits
    (made here otherwise)."""
    if attack.candidates == "vocabulary":
        vocabulary = vocabulary or Vocabulary(tokenizer)
    else:
        vocabulary = None
    states = [_State(ex, {f: segments(t, _protected(ex, f)) for f, t in fields_of(ex, task.name).items()}, set(), [])
              for ex in examples]
    losses = _losses(model, head, task, [s.example for s in states], tokenizer, settings, pad_id, batch_size, device)
    for state, (loss, right) in zip(states, losses):
        state.loss, state.done = loss, not right
    for _ in range(attack.max_changes):
        active = [s for s in states if not s.done]
        if not active:
            break
        for start in range(0, len(active), batch_size):
            _round(model, head, task, active[start:start + batch_size], tokenizer, settings, vocabulary,
                   dictionaries or {}, pad_id, batch_size, device)
    return [{**state.example, "changes": state.changes, "passes": {"forward": state.forward, "backward": state.backward}}
            for state in states]


def _round(model, head, task, states, tokenizer, settings, vocabulary, dictionaries, pad_id, batch_size, device) -> None:
    """One greedy step for a batch of examples: rank by the gradient, check the best by their loss."""
    grads, occurrences = _gradients(model, head, task, [s.example for s in states], tokenizer, settings, pad_id, device)
    embedding = model.encoder.get_input_embeddings().weight.detach()
    variants, owners = [], []
    for i, state in enumerate(states):
        ranked = _ranked(state, grads, occurrences[i], embedding, vocabulary, dictionaries, tokenizer)[:CHECKED]
        state.forward += 1 + len(ranked)
        state.backward += 1
        for field, index, word in ranked:
            variants.append(_changed(state, field, index, word))
            owners.append((i, field, index, word))
    if not variants:
        for state in states:
            state.done = True
        return
    losses = _losses(model, head, task, variants, tokenizer, settings, pad_id, batch_size, device)
    best: dict[int, tuple] = {}
    for (i, field, index, word), (loss, right) in zip(owners, losses):
        if i not in best or round(loss, DECIMALS) > round(best[i][0], DECIMALS):
            best[i] = (loss, right, field, index, word)
    for i, state in enumerate(states):
        if i not in best or round(best[i][0], DECIMALS) <= round(state.loss, DECIMALS):
            state.done = True  # no word raises the loss
            continue
        loss, right, field, index, word = best[i]
        state.changes.append({"field": field, "word": index, "before": state.pieces[field][index][0], "after": word})
        state.pieces[field][index] = (word, True)
        state.changed.add((field, index))
        state.example = with_fields(state.example, {field: "".join(p for p, _ in state.pieces[field])})
        state.loss, state.done = loss, not right


def _changed(state: _State, field: str, index: int, word: str) -> dict:
    pieces = list(state.pieces[field])
    pieces[index] = (word, True)
    return with_fields(state.example, {field: "".join(p for p, _ in pieces)})


def _ranked(state, grads, occurrences, embedding, vocabulary, dictionaries, tokenizer) -> list[tuple[str, int, str]]:
    """(field, segment index, candidate) by the first-order rise of the loss, best first."""
    words = []  # (order, field, index, word, places, the loss's first-order share of the word's pieces)
    order = 0
    for field, pieces in state.pieces.items():
        for index, (word, is_word) in enumerate(pieces):
            if not is_word or (field, index) in state.changed:
                continue
            order += 1
            places = occurrences.get((field, index))
            if places:  # else truncated away: the model never saw it
                removed = sum(float(embedding[token] @ grads[row, position]) for row, position, token in places)
                words.append((order, field, index, word, places, removed))
    if vocabulary is not None:
        candidates = _vocabulary_candidates([(word, places) for _, _, _, word, places, _ in words], grads, embedding,
                                            vocabulary)
    else:
        candidates = [_dictionary_candidates(word, places, grads, embedding, dictionaries, tokenizer)
                      for _, _, _, word, places, _ in words]
    scored = [(-round(score - removed, DECIMALS), first, order, field, index, candidate)
              for (order, field, index, _, _, removed), found in zip(words, candidates)
              for score, first, candidate in found]
    scored.sort(key=lambda item: item[:3])
    return [(field, index, candidate) for *_, field, index, candidate in scored]


def _by_row(places) -> dict[int, list[tuple[int, int]]]:
    """A word's pieces, (position, token) in order, by the row they are in."""
    rows = sorted({row for row, _, _ in places})
    return {row: [(position, token) for r, position, token in places if r == row] for row in rows}


def _vocabulary_candidates(words, grads, embedding, vocabulary) -> list[list[tuple[float, int, str]]]:
    """Per word, its CHECKED best whole words of its script: (score of putting it in place of the
    word's first piece, its id, the word). One product scores every word against the vocabulary."""
    if not words:
        return []
    firsts = torch.stack([sum(grads[row, pieces[0][0]] for row, pieces in _by_row(places).items())
                          for _, places in words])
    projected = (firsts @ embedding.T).double()
    found = []
    for (word, _), scores in zip(words, projected):
        script = script_of(word[0])
        if script not in vocabulary.ids:
            found.append([])
            continue
        ids = vocabulary.ids[script]
        values = scores[ids]
        keys = torch.round(values * 10 ** DECIMALS)
        # every candidate at or above the CHECKED+1-th best key (all of a tie), then the fixed order
        floor = torch.topk(keys, min(CHECKED + 1, len(keys))).values[-1]
        best = [(float(values[i]), int(ids[i]), vocabulary.words[script][i]) for i in torch.nonzero(keys >= floor)[:, 0]]
        best.sort(key=lambda item: (-round(item[0], DECIMALS), item[1]))
        found.append([item for item in best if item[2] != word][:CHECKED])
    return found


def _dictionary_candidates(word, places, grads, embedding, dictionaries, tokenizer) -> list[tuple[float, int, str]]:
    """A word's translations, each scored by putting its pieces in place of the word's, position by
    position (its pieces beyond the word's are left out of the estimate)."""
    by_row = _by_row(places)
    found = []
    for candidate in dictionary_candidates(word, dictionaries):
        pieces = _pieces(tokenizer, candidate)
        if not pieces:
            continue
        score = sum(float(embedding[piece] @ grads[row, position])
                    for row, row_pieces in by_row.items() for (position, _), piece in zip(row_pieces, pieces))
        found.append((score, pieces[0], candidate))
    return found


def _pieces(tokenizer, word: str) -> list[int]:
    return tokenizer([word], add_special_tokens=False)["input_ids"][0]


# ---------------------------------------------------------------------------- passes
def _encoded(task, examples, tokenizer, settings):
    """The task's features of `examples` and, per example, where each word's pieces are:
    (field, segment index) -> [(flat row, position, token id)]."""
    features = task.featurize(examples, tokenizer, settings)
    if task.name == "classification":
        texts_b = [ex.get("text_b") for ex in examples]
        pairs = any(t is not None for t in texts_b)
        encoded = tokenizer([ex["text_a"] for ex in examples], texts_b if pairs else None, truncation=True,
                            max_length=settings["max_length"], return_offsets_mapping=True)
        rows = [(i, {0: "text_a", 1: "text_b"}) for i in range(len(examples))]
        flat = features["input_ids"]
    else:
        contexts = [ex["context"] for ex in examples for _ in ex["choices"]]
        choices = [c for ex in examples for c in ex["choices"]]
        encoded = tokenizer(contexts, choices, truncation="only_first", max_length=settings["max_length"],
                            return_offsets_mapping=True)
        rows = [(i, {0: "context", 1: f"choices/{j}"}) for i, ex in enumerate(examples) for j in range(len(ex["choices"]))]
        flat = [choice for example_rows in features["input_ids"] for choice in example_rows]
    if encoded["input_ids"] != flat:
        raise AssertionError("word attack: the offsets' encoding differs from the task's features")
    where: list[dict] = [{} for _ in examples]
    for row, (i, fields) in enumerate(rows):
        spans = _word_spans(examples[i], fields.values())
        for position, (sequence, (start, end)) in enumerate(zip(encoded.sequence_ids(row), encoded["offset_mapping"][row])):
            if sequence is None or end <= start:
                continue
            field = fields[sequence]
            for index, (w_start, w_end) in spans[field]:
                if start < w_end and w_start < end:
                    where[i].setdefault((field, index), []).append((row, position, encoded["input_ids"][row][position]))
    return features, where


def _word_spans(example: dict, fields) -> dict[str, list[tuple[int, tuple[int, int]]]]:
    spans = {}
    for field in fields:
        offset, found = 0, []
        for index, (piece, is_word) in enumerate(segments(_text(example, field), _protected(example, field))):
            if is_word:
                found.append((index, (offset, offset + len(piece))))
            offset += len(piece)
        spans[field] = found
    return spans


def _gradients(model, head, task, examples, tokenizer, settings, pad_id, device):
    """The gradient of each example's own loss (a sum, so that no example weighs on another's) at
    every input embedding, (flat rows, length, width), and where each word's pieces are."""
    features, where = _encoded(task, examples, tokenizer, settings)
    rows = [dict(zip(features, values)) for values in zip(*features.values())]
    batch = to_device(task.collate(rows, pad_id), device)
    embedding = model.encoder.get_input_embeddings()
    seen = {}
    handle = embedding.register_forward_hook(lambda module, inputs, output: seen.setdefault("out", output))
    model.eval()
    try:
        with torch.enable_grad():
            loss, _ = model(head, batch, task)
            (grads,) = torch.autograd.grad(loss * len(rows), seen["out"])
    finally:
        handle.remove()
    return grads.detach().float(), where


def _losses(model, head, task, examples, tokenizer, settings, pad_id, batch_size, device) -> list[tuple[float, bool]]:
    """Each example's loss and whether it is predicted right."""
    features = task.featurize(examples, tokenizer, settings)
    outputs = predict(model, head, task, features, pad_id=pad_id, batch_size=batch_size, device=device, bf16=False)
    found = []
    for row_output, label in zip(outputs, features["label"]):
        logits = torch.as_tensor(np.asarray(row_output, dtype=np.float64)).view(1, -1)
        loss = float(F.cross_entropy(logits, torch.tensor([int(label)])))
        found.append((loss, int(logits.argmax()) == int(label)))
    return found


# ---------------------------------------------------------------------------- one split
def word_attack_split(model, head: str, task, features: dict[str, list], examples: list[dict], attack: WordAttack, *,
                      tokenizer, metric: str, lang: str, settings: dict, pad_id: int, batch_size: int,
                      device: torch.device, max_examples: int | None = None,
                      dictionaries: dict[str, dict[str, list[str]]] | None = None,
                      vocabulary: Vocabulary | None = None) -> tuple[list[dict], dict]:
    """The attack on the first `max_examples` examples: one record per example with its clean
    prediction, its adversarial example (`adversarial`: the example as scored, in the benchmark's
    schema, whether or not it fooled the model), the words changed and `success`; the metrics of
    xstilts.robustness.attacked_split.scored, the mean words changed and the passes per example."""
    features, examples = subset(features, examples, max_examples)
    decode_settings = {**settings, "metric": metric}
    clean_outputs = predict(model, head, task, features, pad_id=pad_id, batch_size=batch_size, device=device, bf16=False)
    adversarial = attack_examples(model, head, task, examples, tokenizer, settings, attack, pad_id=pad_id,
                                  batch_size=batch_size, device=device, dictionaries=dictionaries,
                                  vocabulary=vocabulary)
    bare = [{k: v for k, v in ex.items() if k not in ("changes", "passes", "protected")} for ex in adversarial]
    attacked_features = task.featurize(bare, tokenizer, settings)
    attacked_outputs = predict(model, head, task, attacked_features, pad_id=pad_id, batch_size=batch_size,
                               device=device, bf16=False)
    clean = task.decode(clean_outputs, features, examples, decode_settings)
    attacked = task.decode(attacked_outputs, attacked_features, examples, decode_settings)
    records, metrics = scored(task, examples, clean, attacked, metric, lang)
    for record, example, plain in zip(records, adversarial, bare):
        record.update(adversarial=plain, changes=example["changes"],
                      success=record["clean_example_score"] == 1.0 and record["example_score"] == 0.0)
    # the passes of the search, and the clean and the attacked prediction
    forward = [ex["passes"]["forward"] + 2 for ex in adversarial]
    backward = [ex["passes"]["backward"] for ex in adversarial]
    return records, {**metrics, "mean_size": float(np.mean([len(ex["changes"]) for ex in adversarial])),
                     "forward_passes": float(np.mean(forward)), "backward_passes": float(np.mean(backward))}
