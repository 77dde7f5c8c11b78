"""Transfer sets: the adversarial texts a discrete attack made against one reference checkpoint,
a fixed set that every other checkpoint is scored on, so that recipes are compared on the same
inputs (an attack on each checkpoint gives each its own inputs). Every example the attack reached
is in the set, whether it fooled the reference or not (`fooled_reference`)."""

from __future__ import annotations

from pathlib import Path

from ..io import read_jsonl
from .examples import texts_of
from .local import LABELLED_TYPES


def transfer_set(path: str | Path, clean: list[dict], *, lang: str, task_type: str, where: str) -> list[dict]:
    """The attacked examples of `lang` in the clean set's order, each the adversarial example with
    `changes` (the words the attack changed) and `fooled_reference`."""
    records = {str(r["id"]): r for r in read_jsonl(path) if r["lang"] == lang}
    if not records or any("adversarial" not in r for r in records.values()):
        raise ValueError(f"{where}: {path} holds no adversarial texts of {lang} (the predictions of a word "
                         "attack carry them)")
    clean_ids = {str(example["id"]) for example in clean}
    unknown = sorted(set(records) - clean_ids)
    if unknown:
        raise ValueError(f"{where}: {path} has examples {unknown[:5]} that the clean set of {lang} lacks")
    out = []
    for example in clean:
        record = records.get(str(example["id"]))
        if record is None:
            continue  # not attacked (the attack's max_examples)
        adversarial = record["adversarial"]
        if task_type in LABELLED_TYPES and str(adversarial["label"]) != str(example["label"]):
            raise ValueError(f"{where}: example {example['id']} has label {adversarial['label']!r} in {path} but "
                             f"{example['label']!r} in the benchmark")
        if len(texts_of(adversarial, task_type)) != len(texts_of(example, task_type)):
            raise ValueError(f"{where}: example {example['id']} has other fields in {path} than in the benchmark")
        changes = [{"op": "substitute", **change} for change in record["changes"]]
        out.append({**adversarial, "changes": {"words": changes}, "fooled_reference": bool(record["success"])})
    return out
