"""Challenge sets from outside (another tool's adversarial or out-of-distribution examples),
declared as a perturbation of a benchmark: JSON-lines files in the benchmark's internal schema, one
per language, holding the clean set's examples (the same ids) with their texts changed. Gold labels
of classification and multiple choice must be the clean ones: a perturbation keeps the label, and
a set that does not is a different benchmark."""

from __future__ import annotations

from pathlib import Path

from ..io import read_jsonl
from ..sources.convert import check_example
from .examples import texts_of

LABELLED_TYPES = ("classification", "multiple_choice")


def local_file(pattern: str, *, bench: str, split: str, lang: str) -> Path:
    return Path(pattern.format(bench=bench, split=split, lang=lang))


def local_set(path: str | Path, clean: list[dict], *, task_type: str, labels: list[str] | None,
              where: str) -> list[dict]:
    """The challenge set's examples in the clean set's order, each with `changes` (the texts that differ)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{where}: no file {path} (one {task_type} example per line in the internal "
                                "schema, with the clean set's ids)")
    rows = read_jsonl(path, check=lambda row: check_example(task_type, row, labels))
    by_id = {str(row["id"]): row for row in rows}
    clean_ids = [str(example["id"]) for example in clean]
    missing, extra = sorted(set(clean_ids) - set(by_id)), sorted(set(by_id) - set(clean_ids))
    if missing or extra or len(by_id) != len(rows):
        raise ValueError(f"{where}: {path} must hold the clean set's examples, each once: "
                         + "; ".join(part for part in (f"missing ids {missing[:5]}" if missing else "",
                                                       f"unknown ids {extra[:5]}" if extra else "",
                                                       "repeated ids" if len(by_id) != len(rows) else "") if part))
    out = []
    for example in clean:
        row = by_id[str(example["id"])]
        if task_type in LABELLED_TYPES and str(row["label"]) != str(example["label"]):
            raise ValueError(f"{where}: example {example['id']} has label {row['label']!r} in {path} but "
                             f"{example['label']!r} in the benchmark: a challenge set keeps the gold labels")
        before, after = texts_of(example, task_type), texts_of(row, task_type)
        edits = [{"op": "local", "start": 0, "before": old, "after": new}
                 for old, new in zip(before, after) if old != new]
        if len(before) != len(after):
            edits.append({"op": "local", "start": 0, "before": len(before), "after": len(after)})
        out.append({**{k: v for k, v in row.items() if k not in ("protected", "changes")}, "changes": {"texts": edits}})
    return out
