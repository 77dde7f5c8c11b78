"""Alignment measures between two languages' sentence vectors, row i of each the same sentence.

- retrieval accuracy: the share of sentences whose cosine-nearest sentence of the other language
  is their translation (top-1, as Tatoeba; xstilts.metrics.tatoeba_accuracy, so that the last
  layer's English-to-other figure is Tatoeba's own score), in both directions;
- cosine margin: the mean cosine of the true pairs minus, per sentence, the mean cosine with its
  k nearest wrong partners, averaged over both directions;
- linear CKA (Kornblith et al. 2019): ||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F) on column-centred X and
  Y; invariant to orthogonal transforms, isotropic scaling and a per-language offset.
Retrieval and margin are also computed after centring each language on its own mean (Libovický et
al. 2020): a constant per-language offset is the usual reason raw retrieval under-states alignment.
CKA centres by construction, so its centred value is its raw one and is not repeated.
"""

from __future__ import annotations

import numpy as np

from .. import metrics

MARGIN_K = 4


def centred(vectors: np.ndarray) -> np.ndarray:
    """Each column minus its mean: the language's own offset removed."""
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors - vectors.mean(axis=0, keepdims=True)


def _paired(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.ndim != 2 or a.shape != b.shape or a.shape[0] < 2:
        raise ValueError(f"{what}: needs two (sentences x dimensions) matrices of one shape with two or more "
                         f"sentences, got {a.shape} and {b.shape}")


def retrieval_accuracy(queries: np.ndarray, candidates: np.ndarray) -> float:
    """Percentage of query rows whose cosine-nearest candidate row is the same row."""
    _paired(np.asarray(queries), np.asarray(candidates), "retrieval_accuracy")
    return metrics.tatoeba_accuracy(queries, candidates)


def retrieval_hits(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Per query row: is its cosine-nearest candidate row the same row? (retrieval_accuracy is the
    percentage of these; the report's paired bootstrap resamples them.)"""
    _paired(np.asarray(queries), np.asarray(candidates), "retrieval_hits")
    _, nearest = metrics.top_k_by_cosine(queries, candidates, 1)
    return nearest[:, 0] == np.arange(len(nearest))


def cosine_margin(a: np.ndarray, b: np.ndarray, k: int = MARGIN_K, device: str = "cpu") -> float:
    """Mean cosine of the true pairs minus the mean cosine of each sentence with its k nearest
    wrong partners in the other language (both directions averaged); k is capped at n - 1."""
    a, b = np.asarray(a), np.asarray(b)
    _paired(a, b, "cosine_margin")
    k = min(k, a.shape[0] - 1)
    units = metrics.unit_rows(a.astype(np.float64)), metrics.unit_rows(b.astype(np.float64))
    true = float(np.mean(np.sum(units[0] * units[1], axis=1)))
    wrong = [_nearest_wrong(queries, keys, k, device) for queries, keys in (units, units[::-1])]
    return true - float(np.mean(wrong))


def _nearest_wrong(queries: np.ndarray, keys: np.ndarray, k: int, device: str) -> float:
    """Mean over queries of the mean cosine with the k most similar keys other than its own row."""
    sims, idx = metrics.top_k_by_cosine(queries, keys, k + 1, device=device)
    own = idx == np.arange(len(queries))[:, None]
    # Drop the query's own partner where it is among the k + 1, else the (k + 1)-th.
    keep = ~own
    keep[~own.any(axis=1), k] = False
    return float(np.mean(sims[keep].reshape(len(queries), k)))


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two sentence matrices (rows paired), in float64 from the d x d products."""
    x, y = centred(x), centred(y)
    if x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(f"linear_cka: needs the same two or more rows on both sides, got {x.shape} and {y.shape}")
    cross = np.linalg.norm(y.T @ x) ** 2
    return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


# The measures kept per sentence as well: retrieval, raw and centred, both directions.
HIT_MEASURES = ("retrieval_en_to_xx", "retrieval_xx_to_en", "centred_retrieval_en_to_xx", "centred_retrieval_xx_to_en")


def layer_hits(english: np.ndarray, other: np.ndarray) -> dict[str, np.ndarray]:
    """Per sentence, for each of HIT_MEASURES: was its translation retrieved?"""
    found = {}
    for prefix, (en, xx) in (("", (english, other)), ("centred_", (centred(english), centred(other)))):
        found[f"{prefix}retrieval_en_to_xx"] = retrieval_hits(en, xx)
        found[f"{prefix}retrieval_xx_to_en"] = retrieval_hits(xx, en)
    return found


def layer_measures(english: np.ndarray, other: np.ndarray, *, k: int = MARGIN_K, device: str = "cpu",
                   hits: dict[str, np.ndarray] | None = None) -> dict:
    """Every measure of one layer and language, English paired row by row with the other language.
    The retrieval percentages are counted from `hits` (layer_hits of the same vectors, searched once
    for both), as metrics.accuracy counts Tatoeba's: the same numbers as retrieval_accuracy."""
    hits = layer_hits(english, other) if hits is None else hits
    found = {"cka": linear_cka(english, other)}
    for prefix, (en, xx) in (("", (english, other)), ("centred_", (centred(english), centred(other)))):
        for direction in ("en_to_xx", "xx_to_en"):
            found[f"{prefix}retrieval_{direction}"] = _percentage(hits[f"{prefix}retrieval_{direction}"])
        found[f"{prefix}margin"] = cosine_margin(en, xx, k, device)
    return found


def _percentage(hits: np.ndarray) -> float:
    return metrics.accuracy(hits.tolist(), [True] * len(hits))
