"""The perturb stage: one benchmark split in one language, perturbed once, with what it changed.

The draws depend on the perturbation's kind and seed and on (benchmark, split, language) only, so
a set is the same whatever else the study holds. Characters inserted by char_noise come from the
language's own letters in this file; codeswitch reads its dictionaries from a folder (MUSE's
files, or the generator's), skips pairs without a file and names them in the summary; mixed_pair
and local read the partner language's set and the challenge set.
"""

from __future__ import annotations

import random
from pathlib import Path

from ..io import read_jsonl, write_json, write_jsonl
from .codeswitch import load_dictionaries
from .examples import PARALLEL_SIDES, perturb_example, texts_of
from .local import local_set
from .transfer import transfer_set
from .mixed import mixed_pairs
from .noise import alphabets, script_of, units


def perturb_file(*, examples_path: str | Path, out: str | Path, summary_out: str | Path, key: str, lang: str,
                 kind: str, rate: float | None, seed: int, task_type: str, languages: list[str] | None = None,
                 dictionaries: str | Path | None = None, order: str | None = None, partner: str = "en",
                 partner_path: str | Path | None = None, local_path: str | Path | None = None,
                 reference_path: str | Path | None = None, labels: list[str] | None = None,
                 side: str = "other", draw: int | None = None) -> dict:
    """Write the perturbed examples (each with its `changes`) and a summary of what changed;
    `key` names the set ("xnli/test/de"), so that each set draws its own numbers. mixed_pair takes
    one side of each pair from the partner language's set of the same split (`partner_path`, English
    by default); local reads a challenge set of the same examples (`local_path`); transfer the texts
    an attack made against a reference checkpoint (its predictions, `reference_path`). A parallel
    set's `side` (examples.PARALLEL_SIDES) says which of its texts are edited: English's with English
    letters and the dictionaries from English. `draw` (2, 3, ...) makes another draw of the same set: a
    recipe's training data drawn afresh per epoch (recipes.<r>.augment draws)."""
    if draw is not None:
        key = f"{key}/draw{draw}"
    if kind == "codeswitch" and not Path(dictionaries or "").is_dir():
        raise FileNotFoundError(f"codeswitch: no dictionary folder {dictionaries} (it should hold MUSE-format files "
                                "named <src>-<tgt>.txt)")
    if side != "other" and task_type != "retrieval":
        raise ValueError(f"side {side!r}: only a parallel set (retrieval) has an English side; {key} is {task_type}")
    examples = read_jsonl(examples_path)
    rng = random.Random(f"{kind}/{seed}/{key}")
    sides = PARALLEL_SIDES[side] if task_type == "retrieval" else ()
    own_side = "src" in sides or not sides  # the example's own language's texts are edited
    alphabet = alphabets(t for ex in examples for t in texts_of(ex, task_type)) if kind == "char_noise" else None
    found, missing = (load_dictionaries(dictionaries, lang, languages or []) if kind == "codeswitch" and own_side
                      else ({}, []))
    english = (None, None)
    if "tgt" in sides:
        english_found, english_missing = (load_dictionaries(dictionaries, "en", languages or [])
                                          if kind == "codeswitch" else ({}, []))
        english = (alphabets(ex["tgt"] for ex in examples) if kind == "char_noise" else None, english_found)
        missing = missing + english_missing
    if kind == "mixed_pair":
        perturbed = mixed_pairs(examples, read_jsonl(partner_path), order, rng, where=f"mixed_pair {key} ({partner})")
    elif kind == "local":
        perturbed = local_set(local_path, examples, task_type=task_type, labels=labels, where=f"local {key}")
    elif kind == "transfer":
        perturbed = transfer_set(reference_path, examples, lang=lang, task_type=task_type, where=f"transfer {key}")
    else:
        perturbed = [perturb_example(ex, task_type, kind, rate, rng, alphabet=alphabet, dictionaries=found, side=side,
                                     english=english) for ex in examples]
    summary = {"key": key, "kind": kind, "rate": rate, "seed": seed,
               **edit_counts(examples, perturbed, task_type, side)}
    if side != "other":
        summary["side"] = side
    if kind == "codeswitch":
        # Named by target language; by pair once English's side is edited too (two sources).
        summary["dictionaries"] = (sorted(found) if "tgt" not in sides else
                                   sorted([*(f"{lang}-{t}" for t in found), *(f"en-{t}" for t in english[1])]))
        summary["missing_dictionaries"] = missing
    write_jsonl(out, perturbed)
    write_json(summary_out, summary)
    return summary


def edit_counts(clean: list[dict], perturbed: list[dict], task_type: str, side: str = "other") -> dict:
    """Examples changed, edits made, and the share of words edited (switched, for codeswitch; taken
    from the partner language, for mixed_pair); of a parallel set, of the side perturbed."""
    edits = [_flat(example["changes"]) for example in perturbed]
    words = sum(_word_count(text) for example in clean for text in texts_of(example, task_type, side))
    n_edits = sum(_word_count(edit["before"]) if edit["op"] == "translated" else 1 for e in edits for edit in e)
    return {"examples": len(perturbed), "changed_examples": sum(1 for e in edits if e), "edits": n_edits,
            "words": words, "edited_share": n_edits / words if words else 0.0}


def _flat(changes) -> list[dict]:
    if isinstance(changes, dict):
        return [edit for value in changes.values() for edit in _flat(value)]
    if isinstance(changes, list):
        return [edit for value in changes for edit in (_flat(value) if isinstance(value, list) else [value])]
    return []


def _word_count(text: str) -> int:
    return sum(1 for start, end in units(text) if any(script_of(char) for char in text[start:end]))
