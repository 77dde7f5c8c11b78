"""Batched forward passes without gradients, shared by dev evaluation during training and by
the evaluation stage: rows sorted by length (little padding), bf16 autocast on GPU."""

from __future__ import annotations

from contextlib import nullcontext

import torch

from .tasks import TaskType


def rows_of(features: dict[str, list]) -> list[dict]:
    columns = list(features)
    return [dict(zip(columns, values)) for values in zip(*(features[c] for c in columns))]


def autocast_for(device: torch.device, bf16: bool):
    if device.type == "cuda" and bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def predict(model, head: str, task: TaskType, features: dict[str, list], *, pad_id: int,
            batch_size: int, device: torch.device, bf16: bool = True) -> list:
    """Per-row outputs of `task` through `head`, in the order of `features`."""
    rows = rows_of(features)
    lengths = task.lengths(features)
    order = sorted(range(len(rows)), key=lambda i: -lengths[i])
    outputs: list = [None] * len(rows)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast_for(device, bf16):
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            # MLM dev masks: each row's own, fixed by its index, whatever the batch size (a runtime
            # setting) and without touching the training RNG.
            seeds = {"row_seeds": indices} if task.draws_when_collating else {}
            batch = to_device(task.collate([rows[i] for i in indices], pad_id, **seeds), device)
            _, batch_outputs = model(head, batch, task)
            for i, row_output in zip(indices, task.unbatch(batch_outputs, batch)):
                outputs[i] = row_output
    model.train(was_training)
    return outputs


def evaluate_split(model, head: str, task: TaskType, features: dict[str, list], examples: list[dict], *,
                   metric: str, lang: str, settings: dict, pad_id: int, batch_size: int,
                   device: torch.device, bf16: bool = True) -> tuple[list[dict], dict]:
    """Predictions (one record per example) and metrics of one split in one language."""
    outputs = predict(model, head, task, features, pad_id=pad_id, batch_size=batch_size, device=device, bf16=bf16)
    predictions = task.decode(outputs, features, examples, {**settings, "metric": metric})
    if task.name == "retrieval" and metric == "bucc":
        return predictions, {}
    return predictions, task.score(predictions, examples, metric, lang)
