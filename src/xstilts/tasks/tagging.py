"""Token labels: POS, NER, CCG supertags. Each word is labelled on its first sub-word."""

from __future__ import annotations

import torch
from torch import nn

from .. import metrics
from .base import IGNORE_INDEX, TaskType, encoder_inputs, pad_2d, token_cross_entropy, trim_per_row

FALLBACK_TAG = "O"  # for words cut off by truncation, which the model never saw


class Tagging(TaskType):
    name = "tagging"

    @staticmethod
    def labels_from(features: dict[str, list]) -> list[str]:
        """The tag set of a training set (features keep tags as strings, so the set is free)."""
        return sorted({tag for tags in features["token_tags"] for tag in tags if tag})

    def featurize(self, examples, tokenizer, settings):
        mismatched = [ex["id"] for ex in examples if ex.get("tags") and len(ex["tags"]) != len(ex["tokens"])]
        if mismatched:
            raise ValueError(f"examples {mismatched[:5]}: 'tokens' and 'tags' differ in length")
        encoded = tokenizer([ex["tokens"] for ex in examples], is_split_into_words=True,
                            truncation=True, max_length=settings["max_length"])
        token_tags, first_token = [], []
        for i, ex in enumerate(examples):
            word_ids = encoded.word_ids(i)
            firsts = [-1] * len(ex["tokens"])
            tags = [""] * len(word_ids)
            previous = None
            for position, word in enumerate(word_ids):
                if word is not None and word != previous:
                    firsts[word] = position
                    tags[position] = ex["tags"][word] if ex.get("tags") else ""
                previous = word
            token_tags.append(tags)
            first_token.append(firsts)
        return {"input_ids": encoded["input_ids"], "token_tags": token_tags, "first_token": first_token}

    def collate(self, rows, pad_id):
        batch = encoder_inputs([r["input_ids"] for r in rows], pad_id)
        index = {label: i for i, label in enumerate(self.labels)}
        label_rows = [[index.get(tag, IGNORE_INDEX) if tag else IGNORE_INDEX for tag in r["token_tags"]] for r in rows]
        batch["labels"] = pad_2d(label_rows, IGNORE_INDEX)
        return batch

    def make_head(self, hidden_size, dropout):
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, len(self.labels)))

    def forward(self, encode, head, batch):
        logits = head(encode(batch["input_ids"], batch["attention_mask"]))
        loss = None
        if "labels" in batch:
            loss = token_cross_entropy(logits, batch["labels"])
        return loss, logits.argmax(dim=-1)

    def unbatch(self, outputs, batch):
        return trim_per_row(outputs, batch)

    def decode(self, outputs, features, examples, settings):
        predictions = []
        for ex, tag_ids, firsts in zip(examples, outputs, features["first_token"]):
            tags = [self.labels[int(tag_ids[p])] if p >= 0 else FALLBACK_TAG for p in firsts]
            predictions.append({"id": ex["id"], "prediction": tags})
        return predictions

    def score(self, predictions, examples, metric, lang):
        gold = [ex["tags"] for ex in examples]
        predicted = [p["prediction"] for p in predictions]
        if metric == "ner":
            result = metrics.seqeval_f1(gold, predicted)
            return {**result, "score": result["f1"]}
        result = metrics.tag_scores(gold, predicted)
        primary = result["accuracy"] if metric == "tag_accuracy" else result["f1"]
        return {**result, "score": primary}
