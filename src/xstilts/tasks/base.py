"""What every task type provides, and the padding shared by all of them."""

from __future__ import annotations

from typing import Any, Sequence

import pyarrow as pa
import torch
from torch import nn

IGNORE_INDEX = -100  # label value the losses skip (non-first sub-words, padding)


def token_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the labelled tokens; 0 (not NaN) for a batch with none."""
    total = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), labels.flatten(),
                                              ignore_index=IGNORE_INDEX, reduction="sum")
    return total / (labels != IGNORE_INDEX).sum().clamp(min=1)


def pad_2d(rows: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Right-pad ragged rows to the longest one: dynamic padding, per batch."""
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


def encoder_inputs(input_ids: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    ids = pad_2d(input_ids, pad_id)
    return {"input_ids": ids, "attention_mask": (ids != pad_id).long()}


def table_columns(table: pa.Table) -> dict[str, list]:
    """A features table as the dict of Python lists every reader gets. Dictionary-encoded columns
    are decoded in C++ first: converting them element by element is 5x slower than the read."""
    plain = pa.schema([field.with_type(undictionary(field.type)) for field in table.schema])
    return (table if plain.equals(table.schema) else table.cast(plain)).to_pydict()


def undictionary(type_: pa.DataType) -> pa.DataType:
    """The type with every dictionary (at any list depth) replaced by its values' type."""
    if pa.types.is_dictionary(type_):
        return type_.value_type
    if pa.types.is_list(type_):
        return pa.list_(undictionary(type_.value_type))
    return type_


class TaskType:
    """Interface of a task type. Features are dicts of equal-length columns (lists)."""

    name: str = ""
    trainable: bool = True  # retrieval is evaluation-only
    # Whether collate draws at random (MLM masks): then it takes a `generator` seeded per batch.
    draws_when_collating: bool = False

    def __init__(self, labels: list[str] | None = None):
        self.labels = list(labels) if labels else []

    # --- data -> features ---------------------------------------------------------------
    def featurize(self, examples: list[dict], tokenizer, settings: dict) -> dict[str, list]:
        raise NotImplementedError

    def feature_table(self, examples: list[dict], tokenizer, settings: dict) -> pa.Table:
        """featurize's columns as the Arrow table the tokenize stage writes. A type overrides it
        where it can build the columns as arrays, without Python objects per token."""
        return pa.Table.from_pydict(self.featurize(examples, tokenizer, settings))

    def lengths(self, features: dict[str, list]) -> list[int]:
        """Token length per feature row, for length-grouped batching."""
        return [len(ids) for ids in features["input_ids"]]

    def collate(self, rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # --- model --------------------------------------------------------------------------
    def make_head(self, hidden_size: int, dropout: float) -> nn.Module | None:
        raise NotImplementedError

    def forward(self, encode, head: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor | None, Any]:
        """(loss or None, outputs) for a batch; `encode(input_ids, attention_mask)` gives hidden states."""
        raise NotImplementedError

    # --- outputs -> predictions -> metrics --------------------------------------------
    def decode(self, outputs: list, features: dict[str, list], examples: list[dict], settings: dict) -> list[dict]:
        """One prediction record per example: {"id", "prediction", ...}."""
        raise NotImplementedError

    def score(self, predictions: list[dict], examples: list[dict], metric: str, lang: str) -> dict[str, float]:
        """Metric dict (0-100) with the primary value under "score"."""
        raise NotImplementedError

    def unbatch(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor]) -> list:
        """Per-row CPU outputs, trimmed of padding where they are per token."""
        return list(outputs.float().cpu().numpy())


def trim_per_row(outputs: torch.Tensor, batch: dict[str, torch.Tensor]) -> list:
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    rows = outputs.float().cpu().numpy() if outputs.is_floating_point() else outputs.cpu().numpy()
    return [row[:length] for row, length in zip(rows, lengths)]


class ClassificationHead(nn.Module):
    """Sentence-level head on the first token (<s>), as RoBERTa-family models use."""

    def __init__(self, hidden_size: int, num_outputs: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.out_proj = nn.Linear(hidden_size, num_outputs)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.dropout(hidden[:, 0])
        x = torch.tanh(self.dense(x))
        return self.out_proj(self.dropout(x))
