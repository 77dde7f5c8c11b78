"""What one alignment job computes: a checkpoint loaded once, every parallel set and language
through one forward pass per batch for all hidden states, and the measures per layer.

A parallel set is in the retrieval schema (`{id, src, tgt}`, src the other language, tgt its
English translation; Tatoeba's layout), tokenized as the retrieval benchmarks are, so that the
English-to-other retrieval accuracy of the retrieval layer is that benchmark's score."""

from __future__ import annotations

import csv
from collections.abc import Mapping

import torch

from ..features import read_features
from ..io import atomic_path
from ..modeling import load_for_inference
from .measures import MARGIN_K, layer_measures
from .vectors import first_lines, paired_sides, sentence_vectors


def measure_checkpoint(checkpoint, sets: Mapping[str, Mapping[str, Mapping[str, str]]], *, device: torch.device,
                       batch_size: int, k: int = MARGIN_K, bf16: bool = True,
                       max_examples: int | None = None) -> list[dict]:
    """`sets`: set name -> condition (`clean`, or a perturbation of the other language's side) ->
    language -> its features file. One record per (set, condition, language, hidden state: 0 is
    the embeddings' output) with every measure of xstilts.alignment.measures, on the first
    `max_examples` sentence pairs of each language (all when None; the same pairs in every
    condition, so that a measure's change under perturbation is paired)."""
    model = load_for_inference(checkpoint).to(device)
    run = dict(pad_id=model.encoder.config.pad_token_id, batch_size=batch_size, device=device, bf16=bf16)
    records = []
    for name, conditions in sets.items():
        for condition, languages in conditions.items():
            for lang, path in languages.items():
                features = first_lines(read_features(path), max_examples)
                other, english = paired_sides(sentence_vectors(model, features, **run), features)
                for layer in range(english.shape[1]):
                    records.append({"set": name, "condition": condition, "lang": lang, "layer": layer,
                                    "sentences": len(english),
                                    **layer_measures(english[:, layer], other[:, layer], k=k, device=str(device))})
    return records


def write_measures(path, records: list[dict]) -> None:
    """One CSV row per record, written whole or not at all."""
    if not records:
        raise ValueError("no alignment measure to write: the parallel sets have no language")
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
