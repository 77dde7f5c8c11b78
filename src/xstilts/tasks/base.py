"""What every task type provides. The data side (featurize, feature_table, lengths) imports no
torch: the tokenize stage runs without it (a torch import is most of a short job). The model side
imports torch where it runs, and shares the helpers of tasks/tensors.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import torch
    from torch import nn

IGNORE_INDEX = -100  # label value the losses skip (non-first sub-words, padding)


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

    def output_log_probs(self, outputs, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The log-probabilities of the distributions the task predicts, one per row of the result
        (rows x outcomes), from forward's outputs; None where the outputs are no distributions (the
        masked LM's), which R3F's term (xstilts.robust_training) then leaves out."""
        return None

    # --- outputs -> predictions -> metrics --------------------------------------------
    def decode(self, outputs: list, features: dict[str, list], examples: list[dict], settings: dict) -> list[dict]:
        """One prediction record per example: {"id", "prediction", ...}."""
        raise NotImplementedError

    def score(self, predictions: list[dict], examples: list[dict], metric: str, lang: str) -> dict[str, float]:
        """Metric dict (0-100) with the primary value under "score"."""
        raise NotImplementedError

    def example_scores(self, predictions: list[dict], examples: list[dict], metric: str,
                       lang: str) -> list[float] | None:
        """Each example's part of the score (0-1, in the order of `predictions`) where the metric is
        their mean (accuracy, QA F1); None where it is not (entity F1, mining F1). A paired bootstrap
        over examples resamples these."""
        return None

    def unbatch(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor]) -> list:
        """Per-row CPU outputs, trimmed of padding where they are per token."""
        return list(outputs.float().cpu().numpy())
