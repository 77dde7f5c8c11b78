"""The model side shared by the task types: padding into tensors, losses, the sentence-level head.
Imported by the methods that build batches and heads, never by featurisation (see base.py)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import IGNORE_INDEX


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


# What each per-token tensor of a collated batch is padded with (pad_id for input_ids).
PER_TOKEN_PADDING = {"attention_mask": 0, "labels": IGNORE_INDEX}


def pad_to_length(batch: dict[str, torch.Tensor], length: int, pad_id: int) -> dict[str, torch.Tensor]:
    """`batch` right-padded to `length` tokens: input_ids with pad_id, the attention mask with 0, token
    labels with IGNORE_INDEX, so that the loss and the predictions of real tokens are unchanged. A
    per-token tensor of another name is refused (its padding value is not known here)."""
    ids = batch["input_ids"]
    extra = length - ids.shape[-1]
    if extra <= 0:
        return batch
    padded = {}
    for key, tensor in batch.items():
        if tensor.shape != ids.shape:
            padded[key] = tensor
            continue
        if key != "input_ids" and key not in PER_TOKEN_PADDING:
            raise ValueError(f"per-token tensor {key!r} has no padding value (known: input_ids, "
                             f"{', '.join(PER_TOKEN_PADDING)})")
        value = pad_id if key == "input_ids" else PER_TOKEN_PADDING[key]
        padded[key] = torch.nn.functional.pad(tensor, (0, extra), value=value)
    return padded


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
