"""Sentence vectors at every hidden layer from one forward pass per batch: the embeddings' output
and each layer's, mean-pooled over the real tokens exactly as the retrieval benchmarks pool their
one layer (xstilts.tasks.retrieval), in the same batches, so that a layer's vectors here are that
benchmark's vectors bit for bit."""

from __future__ import annotations

import numpy as np
import torch

from ..inference import predict
from ..modeling import ALL_LAYERS
from ..tasks.retrieval import SOURCE, TARGET, Retrieval, mean_over_tokens


class EveryLayer(Retrieval):
    """Retrieval's features and pooling, at every hidden state at once: per row (layers, hidden)."""

    def forward(self, encode, head, batch):
        hidden_states = encode(batch["input_ids"], batch["attention_mask"], layer=ALL_LAYERS)
        return None, torch.stack([mean_over_tokens(hidden, batch["attention_mask"]) for hidden in hidden_states], dim=1)


def sentence_vectors(model, features: dict[str, list], *, pad_id: int, batch_size: int, device: torch.device,
                     bf16: bool = True) -> np.ndarray:
    """(rows, hidden states, hidden size): every row's mean-pooled vector at every hidden state."""
    outputs = predict(model, "alignment", EveryLayer(), features, pad_id=pad_id, batch_size=batch_size,
                      device=device, bf16=bf16)
    return np.stack(outputs)


def first_lines(features: dict[str, list], count: int | None) -> dict[str, list]:
    """The rows of a parallel set's first `count` source lines and of their partners (all rows when
    `count` is None): a measure on fewer sentences, chosen before any forward pass."""
    if count is None:
        return features
    sides, ids = features["side"], features["line_id"]
    kept = set(list(dict.fromkeys(line for side, line in zip(sides, ids) if side == SOURCE))[:count])
    rows = [i for i, line in enumerate(ids) if line in kept]
    return {column: [values[i] for i in rows] for column, values in features.items()}


def paired_sides(vectors: np.ndarray, features: dict[str, list]) -> tuple[np.ndarray, np.ndarray]:
    """A parallel set's two sides (retrieval features: `side`, `line_id`), row i of each the same
    line id: (source, target), each (lines, hidden states, hidden size)."""
    sides, ids = np.asarray(features["side"]), np.asarray(features["line_id"])
    source_ids, target_ids = ids[sides == SOURCE].tolist(), ids[sides == TARGET].tolist()
    if sorted(source_ids) != sorted(target_ids):
        missing = sorted(set(source_ids) ^ set(target_ids))[:5]
        raise ValueError(f"a parallel set needs every line on both sides; unpaired line ids: {', '.join(missing)}")
    where = {line: i for i, line in enumerate(target_ids)}
    source = vectors[sides == SOURCE]
    target = vectors[sides == TARGET][[where[line] for line in source_ids]]
    return source, target
