"""What one alignment job computes: a checkpoint loaded once, every parallel set and language
through one forward pass per batch for all hidden states, and the measures per layer.

A parallel set is in the retrieval schema (`{id, src, tgt}`, src the other language, tgt its
English translation; Tatoeba's layout), tokenized as the retrieval benchmarks are, so that the
English-to-other retrieval accuracy of the retrieval layer is that benchmark's score."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..features import read_features
from ..modeling import load_for_inference
from .measures import MARGIN_K, layer_measures
from .vectors import paired_sides, sentence_vectors


def measure_checkpoint(checkpoint, sets: Mapping[str, Mapping[str, str]], *, device: torch.device, batch_size: int,
                       k: int = MARGIN_K, bf16: bool = True) -> list[dict]:
    """`sets`: set name -> language -> its features file. One record per (set, language, hidden
    state: 0 is the embeddings' output) with every measure of xstilts.alignment.measures."""
    model = load_for_inference(checkpoint).to(device)
    run = dict(pad_id=model.encoder.config.pad_token_id, batch_size=batch_size, device=device, bf16=bf16)
    records = []
    for name, languages in sets.items():
        for lang, path in languages.items():
            features = read_features(path)
            other, english = paired_sides(sentence_vectors(model, features, **run), features)
            for layer in range(english.shape[1]):
                records.append({"set": name, "lang": lang, "layer": layer, "sentences": len(english),
                                **layer_measures(english[:, layer], other[:, layer], k=k, device=str(device))})
    return records
