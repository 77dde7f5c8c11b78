"""Single sentences and sentence pairs with one label: NLI, paraphrase."""

from __future__ import annotations

from .. import metrics
from .base import TaskType


class Classification(TaskType):
    name = "classification"

    def featurize(self, examples, tokenizer, settings):
        texts_a = [ex["text_a"] for ex in examples]
        texts_b = [ex.get("text_b") for ex in examples]
        pairs = any(t is not None for t in texts_b)
        encoded = tokenizer(texts_a, texts_b if pairs else None, truncation=True,
                            max_length=settings["max_length"])
        index = {label: i for i, label in enumerate(self.labels)}
        unknown = [ex["id"] for ex in examples if str(ex["label"]) not in index]
        if unknown:
            raise ValueError(f"examples {unknown[:5]} have labels outside the task's label set {self.labels}")
        return {"input_ids": encoded["input_ids"], "label": [index[str(ex["label"])] for ex in examples]}

    def collate(self, rows, pad_id):
        import torch

        from .tensors import encoder_inputs

        batch = encoder_inputs([r["input_ids"] for r in rows], pad_id)
        batch["labels"] = torch.tensor([r["label"] for r in rows], dtype=torch.long)
        return batch

    def make_head(self, hidden_size, dropout):
        from .tensors import ClassificationHead

        return ClassificationHead(hidden_size, len(self.labels), dropout)

    def forward(self, encode, head, batch):
        logits = head(encode(batch["input_ids"], batch["attention_mask"]))
        import torch.nn.functional as F

        loss = F.cross_entropy(logits.float(), batch["labels"]) if "labels" in batch else None
        return loss, logits

    def output_log_probs(self, outputs, batch):
        import torch.nn.functional as F

        return F.log_softmax(outputs.float(), dim=-1)

    def decode(self, outputs, features, examples, settings):
        return [{"id": ex["id"], "prediction": self.labels[int(row.argmax())]} for ex, row in zip(examples, outputs)]

    def score(self, predictions, examples, metric, lang):
        value = metrics.accuracy([p["prediction"] for p in predictions], [str(ex["label"]) for ex in examples])
        return {"accuracy": value, "score": value}

    def example_scores(self, predictions, examples, metric, lang):
        return [float(p["prediction"] == str(ex["label"])) for p, ex in zip(predictions, examples)]
