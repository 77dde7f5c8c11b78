"""What one alignment job computes: a checkpoint loaded once, every parallel set and language
through one forward pass per batch for all hidden states, and the measures per layer.

A parallel set is in the retrieval schema (`{id, src, tgt}`, src the other language, tgt its
English translation; Tatoeba's layout), tokenized as the retrieval benchmarks are, so that the
English-to-other retrieval accuracy of the retrieval layer is that benchmark's score. It is read
from the features of a retrieval benchmark, or made here from a translated test set
(xstilts.alignment.translated) with the model's tokenizer."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import torch

from .. import tokenizer_file
from ..features import read_features
from ..io import atomic_path
from ..modeling import load_for_inference
from ..tasks.retrieval import Retrieval
from .measures import HIT_MEASURES, MARGIN_K, layer_hits, layer_measures
from .translated import translated_pairs
from .vectors import first_lines, paired_sides, sentence_vectors


def measure_checkpoint(checkpoint, sets: Mapping[str, Mapping[str, Mapping[str, str | dict]]], *, device: torch.device,
                       batch_size: int, k: int = MARGIN_K, bf16: bool = True,
                       max_examples: int | None = None) -> tuple[list[dict], dict[str, np.ndarray]]:
    """`sets`: set name -> condition (`clean`, or a perturbation) -> language -> its features file,
    or the files of a translated set (parallel_features). Returns one record per (set, condition,
    language, hidden state: 0 is the embeddings' output) with every measure of
    xstilts.alignment.measures, on the first `max_examples` sentence pairs of each language (all
    when None; the same pairs in every condition, so that a measure's change under perturbation is
    paired), and the per-sentence retrieval hits behind them: hit_key(set, condition, language,
    measure) -> (hidden states, sentences) booleans."""
    model = load_for_inference(checkpoint).to(device)
    run = dict(pad_id=model.encoder.config.pad_token_id, batch_size=batch_size, device=device, bf16=bf16)
    records, hits = [], {}
    for name, conditions in sets.items():
        for condition, languages in conditions.items():
            for lang, source in languages.items():
                features = first_lines(parallel_features(source), max_examples)
                other, english = paired_sides(sentence_vectors(model, features, **run), features)
                per_layer = []
                for layer in range(english.shape[1]):
                    hits_here = layer_hits(english[:, layer], other[:, layer])
                    records.append({"set": name, "condition": condition, "lang": lang, "layer": layer,
                                    "sentences": len(english),
                                    **layer_measures(english[:, layer], other[:, layer], k=k, device=str(device),
                                                     hits=hits_here)})
                    per_layer.append(hits_here)
                for measure in HIT_MEASURES:
                    hits[hit_key(name, condition, lang, measure)] = np.stack([h[measure] for h in per_layer])
    return records, hits


def parallel_features(source) -> dict[str, list]:
    """A parallel set's retrieval features: a features file (a path), or a translated set's
    (xstilts.alignment.translated.translated_pairs' `source`, with the `tokenizer` folder and the
    retrieval `settings` of the tokenize stage) tokenized here as that stage tokenizes."""
    if not isinstance(source, Mapping):
        return read_features(source)
    return Retrieval().featurize(translated_pairs(source), _tokenizer(source["tokenizer"]), source["settings"])


@lru_cache(maxsize=2)
def _tokenizer(folder: str):
    """One model's tokenizer, loaded once for all its sets (XLM-R's takes a second)."""
    return tokenizer_file.load(folder)


def hit_key(name: str, condition: str, lang: str, measure: str) -> str:
    return "|".join((name, condition, lang, measure))


def write_hits(path, hits: dict[str, np.ndarray]) -> None:
    """The per-sentence hits, one array per key, written whole or not at all."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as out:
            np.savez_compressed(out, **hits)


def read_hits(path) -> dict[str, np.ndarray]:
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}


def write_measures(path, records: list[dict]) -> None:
    """One CSV row per record, written whole or not at all."""
    if not records:
        raise ValueError("no alignment measure to write: the parallel sets have no language")
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
