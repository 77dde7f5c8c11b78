"""A context and n candidate continuations, one right: HellaSwag, CosmosQA, XCOPA."""

from __future__ import annotations

from .. import metrics
from .base import TaskType


class MultipleChoice(TaskType):
    name = "multiple_choice"

    def featurize(self, examples, tokenizer, settings):
        contexts = [ex["context"] for ex in examples for _ in ex["choices"]]
        choices = [choice for ex in examples for choice in ex["choices"]]
        encoded = tokenizer(contexts, choices, truncation="only_first", max_length=settings["max_length"])
        input_ids, start = [], 0
        for ex in examples:
            input_ids.append(encoded["input_ids"][start : start + len(ex["choices"])])
            start += len(ex["choices"])
        return {"input_ids": input_ids, "label": [int(ex["label"]) for ex in examples]}

    def lengths(self, features):
        return [max(len(c) for c in choices) for choices in features["input_ids"]]

    def collate(self, rows, pad_id):
        import torch

        from .tensors import pad_2d

        num_choices = len(rows[0]["input_ids"])
        if any(len(r["input_ids"]) != num_choices for r in rows):
            raise ValueError("multiple_choice: every example of a task must have the same number of choices")
        flat = pad_2d([choice for r in rows for choice in r["input_ids"]], pad_id)
        return {
            "input_ids": flat.view(len(rows), num_choices, -1),
            "attention_mask": (flat != pad_id).long().view(len(rows), num_choices, -1),
            "labels": torch.tensor([r["label"] for r in rows], dtype=torch.long),
        }

    def make_head(self, hidden_size, dropout):
        from .tensors import ClassificationHead

        return ClassificationHead(hidden_size, 1, dropout)

    def forward(self, encode, head, batch):
        batch_size, num_choices, width = batch["input_ids"].shape
        hidden = encode(batch["input_ids"].view(-1, width), batch["attention_mask"].view(-1, width))
        logits = head(hidden).view(batch_size, num_choices)
        import torch.nn.functional as F

        loss = F.cross_entropy(logits.float(), batch["labels"]) if "labels" in batch else None
        return loss, logits

    def output_log_probs(self, outputs, batch):
        import torch.nn.functional as F

        return F.log_softmax(outputs.float(), dim=-1)

    def decode(self, outputs, features, examples, settings):
        return [{"id": ex["id"], "prediction": int(row.argmax())} for ex, row in zip(examples, outputs)]

    def score(self, predictions, examples, metric, lang):
        value = metrics.accuracy([p["prediction"] for p in predictions], [int(ex["label"]) for ex in examples])
        return {"accuracy": value, "score": value}

    def example_scores(self, predictions, examples, metric, lang):
        return [float(p["prediction"] == int(ex["label"])) for p, ex in zip(predictions, examples)]
