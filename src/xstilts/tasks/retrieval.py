"""Sentence retrieval with no training data (Tatoeba, BUCC): sentence vectors are one hidden
layer of the encoder mean-pooled over the real tokens, compared by cosine."""

from __future__ import annotations

import numpy as np
import torch

from .. import metrics
from .base import TaskType, encoder_inputs

SOURCE, TARGET = 0, 1


class Retrieval(TaskType):
    name = "retrieval"
    trainable = False

    def featurize(self, examples, tokenizer, settings):
        columns = {"input_ids": [], "side": [], "line_id": []}
        for side, key in ((SOURCE, "src"), (TARGET, "tgt")):
            lines = [ex for ex in examples if ex.get(key) is not None]
            encoded = tokenizer([ex[key] for ex in lines], truncation=True, max_length=settings["max_length"])
            columns["input_ids"] += encoded["input_ids"]
            columns["side"] += [side] * len(lines)
            columns["line_id"] += [str(ex["id"]) for ex in lines]
        return columns

    def collate(self, rows, pad_id):
        return encoder_inputs([r["input_ids"] for r in rows], pad_id)

    def make_head(self, hidden_size, dropout):
        return None

    def forward(self, encode, head, batch):
        hidden = encode(batch["input_ids"], batch["attention_mask"], layer=self.layer).float()
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return None, (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)

    layer: int = -1  # set by evaluation from the model's retrieval_layer

    def decode(self, outputs, features, examples, settings):
        """Tatoeba: the other-language line retrieved for each English line.
        BUCC: every candidate pair with its margin score (thresholding happens in scoring)."""
        vectors = np.stack(outputs)
        sides = np.asarray(features["side"])
        ids = np.asarray(features["line_id"])
        src, tgt = vectors[sides == SOURCE], vectors[sides == TARGET]
        src_ids, tgt_ids = ids[sides == SOURCE].tolist(), ids[sides == TARGET].tolist()
        if settings.get("metric") == "bucc":
            pairs = metrics.mine_pairs(src, tgt, src_ids, tgt_ids, k=4)
            return [{"id": s, "prediction": t, "margin": float(m)} for s, t, m in pairs]
        # XTREME's Tatoeba search queries with the English side and retrieves among the other
        # language's lines; a prediction is right when the retrieved line has the query's id.
        nearest = _normalise(tgt) @ _normalise(src).T
        return [{"id": t, "prediction": src_ids[int(j)]} for t, j in zip(tgt_ids, nearest.argmax(axis=1))]

    def score(self, predictions, examples, metric, lang):
        if metric == "bucc":
            raise ValueError("bucc is scored by mining_score with a dev-tuned threshold")
        value = metrics.accuracy([p["prediction"] for p in predictions], [p["id"] for p in predictions])
        return {"accuracy": value, "score": value}

    @staticmethod
    def gold_pairs(examples: list[dict]) -> set[tuple[str, str]]:
        """In our mining schema a line with both sides is a gold pair; its two sides share the id."""
        return {(str(ex["id"]), str(ex["id"])) for ex in examples if ex.get("src") is not None and ex.get("tgt") is not None}

    def mining_score(self, dev_predictions, dev_examples, test_predictions, test_examples) -> dict:
        as_candidates = lambda preds: [(p["id"], p["prediction"], p["margin"]) for p in preds]
        threshold = metrics.best_threshold(as_candidates(dev_predictions), self.gold_pairs(dev_examples))
        result = metrics.mining_scores(as_candidates(test_predictions), self.gold_pairs(test_examples), threshold)
        return {**result, "threshold": float(threshold), "score": result["f1"]}


def _normalise(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
