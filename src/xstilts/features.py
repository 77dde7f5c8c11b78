"""The tokenize stage: examples -> model inputs, stored as Parquet columns per task type."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .io import atomic_path, read_jsonl
from .tasks import task_type


def write_features(path: str | Path, columns: dict[str, list]) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pydict(columns), tmp)


def read_features(path: str | Path) -> dict[str, list]:
    return pq.read_table(path).to_pydict()


def load_tokenizer(model_dir: str | Path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(model_dir, use_fast=True, trust_remote_code=False)


def tokenize(*, tokenizer_dir: str | Path, task_type_name: str, labels: list[str] | None,
             examples_paths: list[str], settings: dict, outs: list[str]) -> None:
    """Featurise each examples file into the matching features file, loading the tokenizer once."""
    tokenizer = load_tokenizer(tokenizer_dir)
    kind = task_type(task_type_name)(labels)
    for examples_path, out in zip(examples_paths, outs):
        write_features(out, kind.featurize(read_jsonl(examples_path), tokenizer, settings))


# ---- training ------------------------------------------------------------------------------
