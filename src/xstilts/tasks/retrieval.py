"""Sentence retrieval with no training data (Tatoeba, BUCC, Mewsli-X, LAReQA): sentence vectors
are one hidden layer of the encoder mean-pooled over the real tokens, compared by cosine.

Schema: `{id, src, tgt}`. Tatoeba: every line a translation pair. BUCC (mining): pairs plus
one-sided lines. Mewsli-X and LAReQA (ranking, metric `map_at_K`): query lines
`{id, src, tgt: null, relevant: [candidate ids]}` and candidate lines `{id, src: null, tgt}`, the
latter with an optional `context` (LAReQA: the sentence's paragraph, encoded after it as
XTREME-R's candidate encoder reads sentence and paragraph)."""

from __future__ import annotations

import re

import numpy as np

from .. import metrics
from .base import TaskType

SOURCE, TARGET = 0, 1


class Retrieval(TaskType):
    name = "retrieval"
    trainable = False

    def featurize(self, examples, tokenizer, settings):
        columns = {"input_ids": [], "side": [], "line_id": []}
        for side, key in ((SOURCE, "src"), (TARGET, "tgt")):
            lines = [ex for ex in examples if ex.get(key) is not None]
            columns["input_ids"] += _encode(tokenizer, lines, key, settings["max_length"])
            columns["side"] += [side] * len(lines)
            columns["line_id"] += [str(ex["id"]) for ex in lines]
        return columns

    def collate(self, rows, pad_id):
        from .tensors import encoder_inputs

        return encoder_inputs([r["input_ids"] for r in rows], pad_id)

    def make_head(self, hidden_size, dropout):
        return None

    def forward(self, encode, head, batch):
        return None, mean_over_tokens(encode(batch["input_ids"], batch["attention_mask"], layer=self.layer),
                                      batch["attention_mask"])

    layer: int = -1  # set by evaluation from the model's retrieval_layer

    def decode(self, outputs, features, examples, settings):
        """Tatoeba: the other-language line retrieved for each English line.
        BUCC: every candidate pair with its margin score, identical texts of a side mined as one and
        pairs of a repeated text dropped, as XTREME reads them (thresholding happens in scoring).
        map_at_K (Mewsli-X, LAReQA): each query's K nearest candidate ids, best first."""
        vectors = np.stack(outputs)
        sides = np.asarray(features["side"])
        ids = np.asarray(features["line_id"])
        src, tgt = vectors[sides == SOURCE], vectors[sides == TARGET]
        src_ids, tgt_ids = ids[sides == SOURCE].tolist(), ids[sides == TARGET].tolist()
        depth = ranking_depth(settings.get("metric"))
        if depth:
            return rankings(src, tgt, src_ids, tgt_ids, depth)
        if settings.get("metric") == "bucc":
            # Texts too, not only vectors: XTREME merges a side's identical sentences before mining.
            src_texts, tgt_texts = _side_texts(examples, "src", src_ids), _side_texts(examples, "tgt", tgt_ids)
            pairs = metrics.mine_text_pairs(src, tgt, src_texts, tgt_texts, src_ids, tgt_ids, k=4)
            return [{"id": s, "prediction": t, "margin": float(m)} for s, t, m in pairs]
        # XTREME's Tatoeba search queries with the English side and retrieves among the other
        # language's lines; a prediction is right when the retrieved line has the query's id.
        nearest = _normalise(tgt) @ _normalise(src).T
        return [{"id": t, "prediction": src_ids[int(j)]} for t, j in zip(tgt_ids, nearest.argmax(axis=1))]

    def score(self, predictions, examples, metric, lang):
        if metric == "bucc":
            raise ValueError("bucc is scored by mining_score with a dev-tuned threshold")
        depth = ranking_depth(metric)
        if depth:
            value = metrics.mean_average_precision_at_k([p["prediction"] for p in predictions],
                                                        _relevant_sets(predictions, examples), k=depth)
            return {metric: value, "score": value}
        value = metrics.accuracy([p["prediction"] for p in predictions], [p["id"] for p in predictions])
        return {"accuracy": value, "score": value}

    def example_scores(self, predictions, examples, metric, lang):
        if metric != "tatoeba":
            return None
        return [float(p["prediction"] == p["id"]) for p in predictions]

    @staticmethod
    def gold_pairs(examples: list[dict]) -> set[tuple[str, str]]:
        """In our mining schema a line with both sides is a gold pair; its two sides share the id."""
        return {(str(ex["id"]), str(ex["id"])) for ex in examples if ex.get("src") is not None and ex.get("tgt") is not None}

    def mining_score(self, dev_predictions, dev_examples, test_predictions, test_examples) -> dict:
        as_candidates = lambda preds: [(p["id"], p["prediction"], p["margin"]) for p in preds]
        threshold = metrics.best_threshold(as_candidates(dev_predictions), self.gold_pairs(dev_examples))
        result = metrics.mining_scores(as_candidates(test_predictions), self.gold_pairs(test_examples), threshold)
        return {**result, "threshold": float(threshold), "score": result["f1"]}


def mean_over_tokens(hidden, attention_mask):
    """A sentence vector: the hidden states (float32) averaged over the real tokens."""
    hidden = hidden.float()
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)


def ranking_depth(metric: str | None) -> int | None:
    """k of a ranking metric `map_at_K` (mAP@K), None for the other retrieval metrics."""
    match = re.fullmatch(r"map_at_(\d+)", metric or "")
    return int(match.group(1)) if match else None


def _side_texts(examples: list[dict], key: str, line_ids: list[str]) -> list[str]:
    """The `key` texts of the lines featurize encoded for that side, in the order of `line_ids`."""
    lines = [ex for ex in examples if ex.get(key) is not None]
    if [str(ex["id"]) for ex in lines] != line_ids:
        raise ValueError(f"the features' {key} lines are not those of the examples (were they featurised from "
                         "another file?)")
    return [ex[key] for ex in lines]


def _encode(tokenizer, lines: list[dict], key: str, max_length: int) -> list[list[int]]:
    """Token ids of each line's `key` text, followed by its `context` where it has one. The
    longer part (the paragraph) is cut first, so the candidate sentence itself is kept."""
    with_context = [i for i, ex in enumerate(lines) if ex.get("context") is not None]
    alone = [i for i, ex in enumerate(lines) if ex.get("context") is None]
    ids: list[list[int]] = [[] for _ in lines]
    if alone:
        encoded = tokenizer([lines[i][key] for i in alone], truncation=True, max_length=max_length)
        for i, row in zip(alone, encoded["input_ids"]):
            ids[i] = row
    if with_context:
        encoded = tokenizer([lines[i][key] for i in with_context], [lines[i]["context"] for i in with_context],
                            truncation="longest_first", max_length=max_length)
        for i, row in zip(with_context, encoded["input_ids"]):
            ids[i] = row
    return ids


def rankings(queries: np.ndarray, candidates: np.ndarray, query_ids: list[str], candidate_ids: list[str],
             depth: int, *, device: str = "cpu", candidates_normalised: bool = False) -> list[dict]:
    """Each query's top `depth` candidate ids, best first (Mewsli-X, LAReQA)."""
    if not candidate_ids:
        raise ValueError("a ranking set needs candidate lines (src null, tgt the candidate text); there are none")
    order = metrics.rank_by_cosine(queries, candidates, depth, device=device,
                                   candidates_normalised=candidates_normalised)
    return [{"id": q, "prediction": [candidate_ids[j] for j in row]} for q, row in zip(query_ids, order.tolist())]


def _relevant_sets(predictions: list[dict], examples: list[dict]) -> list[set[str]]:
    """The relevant candidate ids of each predicted query, from its example's `relevant`."""
    relevant = {str(ex["id"]): ex["relevant"] for ex in examples if ex.get("src") is not None and "relevant" in ex}
    missing = [p["id"] for p in predictions if p["id"] not in relevant]
    if missing:
        raise ValueError(f"query line(s) {missing[:5]} have no `relevant` list: a map_at_K benchmark needs one "
                         "on every query line")
    return [set(relevant[p["id"]]) for p in predictions]


def _normalise(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
