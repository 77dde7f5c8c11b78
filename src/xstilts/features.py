"""The tokenize stage: examples -> model inputs, stored as Parquet columns per task type."""

from __future__ import annotations

import gc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from . import tokenizer_file
from .io import atomic_path, read_jsonl
from .tasks import task_type
from .tasks.base import table_columns


def write_features(path: str | Path, columns: dict[str, list] | pa.Table) -> None:
    table = columns if isinstance(columns, pa.Table) else pa.Table.from_pydict(columns)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_features(path: str | Path) -> dict[str, list]:
    return table_columns(pq.read_table(path))


def load_tokenizer(model_dir: str | Path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(model_dir, use_fast=True, trust_remote_code=False)


def tokenize(*, tokenizer_dir: str | Path, task_type_name: str, labels: list[str] | None,
             examples_paths: list[str], settings: dict, outs: list[str]) -> None:
    """Featurise each examples file into the matching features file, loading the tokenizer once:
    from its tokenizer.json alone, so that the stage imports neither transformers nor torch."""
    tokenizer = tokenizer_file.load(tokenizer_dir)
    kind = task_type(task_type_name)(labels)
    for examples_path, out in zip(examples_paths, outs):
        featurize_file(kind, read_jsonl(examples_path), tokenizer, settings, out)


def featurize_file(kind, examples: list[dict], tokenizer, settings: dict, out: str | Path) -> None:
    """One language's features. The garbage collector is paused meanwhile: featurising allocates
    millions of small objects and no cycles, and collections it triggers cost QA up to 40%."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        write_features(out, kind.feature_table(examples, tokenizer, settings))
    finally:
        if was_enabled:
            gc.enable()


# ---- training ------------------------------------------------------------------------------
