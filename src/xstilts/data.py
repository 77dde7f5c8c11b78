"""Data sources -> the internal example schema of each task type (one JSON object per line).

Kept free of torch and transformers so that the many small `prepare` jobs start fast."""

from __future__ import annotations

from pathlib import Path

from .io import write_jsonl


def prepare(*, task: str, split: str, lang: str, source: str, spec: dict, out: str | Path) -> None:
    """Write one split of one task in one language, from the source the config chose."""
    if source == "synthetic":
        from . import synthetic

        rows = synthetic.generate(spec["kind"], split=split, lang=lang, n=spec["n"], seed=spec["seed"],
                                  stream=task, **spec.get("options", {}))
    else:
        raise NotImplementedError(f"task '{task}': data source '{source}' is not implemented yet; use 'synthetic'")
    if not rows:
        raise ValueError(f"task '{task}' {split}/{lang}: the source produced no examples")
    write_jsonl(out, rows)
