"""Extractive QA: predict the answer span in the context. Long contexts are split into
windows with a stride; a window without the answer points at <s> (SQuAD v2 convention)."""

from __future__ import annotations

import numpy as np

from .. import metrics
from .base import TaskType

N_BEST = 20  # start/end candidates kept per window when decoding


class SpanQA(TaskType):
    name = "span_qa"

    def featurize(self, examples, tokenizer, settings):
        questions = _shortened_questions([ex["question"].lstrip() for ex in examples], tokenizer, settings)
        encoded = tokenizer(
            questions,
            [ex["context"] for ex in examples],
            truncation="only_second",
            max_length=settings["max_length"],
            stride=settings["stride"],
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        columns = {"input_ids": [], "example_index": [], "offsets": [], "start_position": [], "end_position": []}
        for window, example_index in enumerate(encoded["overflow_to_sample_mapping"]):
            offsets = _context_offsets(encoded["offset_mapping"][window], encoded.sequence_ids(window))
            start, end = _answer_positions(examples[example_index], offsets)
            columns["input_ids"].append(encoded["input_ids"][window])
            columns["example_index"].append(example_index)
            columns["offsets"].append(offsets)
            columns["start_position"].append(start)
            columns["end_position"].append(end)
        return columns

    def collate(self, rows, pad_id):
        import torch

        from .tensors import encoder_inputs

        batch = encoder_inputs([r["input_ids"] for r in rows], pad_id)
        batch["start_positions"] = torch.tensor([r["start_position"] for r in rows], dtype=torch.long)
        batch["end_positions"] = torch.tensor([r["end_position"] for r in rows], dtype=torch.long)
        return batch

    def make_head(self, hidden_size, dropout):
        from torch import nn

        return nn.Linear(hidden_size, 2)

    def forward(self, encode, head, batch):
        import torch.nn.functional as F

        logits = head(encode(batch["input_ids"], batch["attention_mask"])).float()
        # Padding must never win the argmax.
        logits = logits.masked_fill(batch["attention_mask"].unsqueeze(-1) == 0, -1e4)
        loss = None
        if "start_positions" in batch:
            loss = (F.cross_entropy(logits[..., 0], batch["start_positions"])
                    + F.cross_entropy(logits[..., 1], batch["end_positions"])) / 2
        return loss, logits

    def output_log_probs(self, outputs, batch):
        """The start and the end distributions over each row's positions (padding at -1e4: none)."""
        import torch.nn.functional as F

        return F.log_softmax(outputs.float(), dim=1).transpose(1, 2).reshape(-1, outputs.shape[1])

    def unbatch(self, outputs, batch):
        from .tensors import trim_per_row

        return trim_per_row(outputs, batch)

    def decode(self, outputs, features, examples, settings):
        best: dict[int, tuple[float, str]] = {}
        null: dict[int, float] = {}  # the lowest <s> score over an example's windows, as SQuAD v2 decoders take
        for logits, example_index, offsets in zip(outputs, features["example_index"], features["offsets"]):
            context = examples[example_index]["context"]
            candidate = _best_span(logits, offsets, context, settings.get("qa_max_answer_tokens", 30))
            if candidate and candidate[0] > best.get(example_index, (-np.inf, ""))[0]:
                best[example_index] = candidate
            null[example_index] = min(null.get(example_index, np.inf), float(logits[0, 0] + logits[0, 1]))
        predictions = []
        for i, ex in enumerate(examples):
            score, text = best.get(i, (-np.inf, ""))
            if settings.get("null_answers") and null.get(i, -np.inf) > score:
                text = ""
            predictions.append({"id": ex["id"], "prediction": text})
        return predictions

    def score(self, predictions, examples, metric, lang):
        predicted = {p["id"]: p["prediction"] for p in predictions}
        gold = {ex["id"]: list(ex["answers"]["text"]) for ex in examples}
        result = metrics.qa_scores(predicted, gold, lang=lang if metric == "mlqa" else None)
        return {**result, "score": result["f1"]}

    def example_scores(self, predictions, examples, metric, lang):
        gold = {ex["id"]: list(ex["answers"]["text"]) for ex in examples}
        rules = lang if metric == "mlqa" else None
        return [metrics.qa_f1(p["prediction"], gold[p["id"]], lang=rules) / 100.0 for p in predictions]


def _context_offsets(offsets: list, sequence_ids: list) -> list:
    """Character offsets of the context tokens, (-1, -1) elsewhere. The context is one run of
    tokens, so slicing it out avoids building a list per token (which keeps the GC busy)."""
    first = sequence_ids.index(1)
    last = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
    outside = (-1, -1)
    return [outside] * first + list(offsets[first : last + 1]) + [outside] * (len(offsets) - last - 1)


def _shortened_questions(questions: list[str], tokenizer, settings: dict) -> list[str]:
    """Cut questions that leave no room for a context window: the window must hold more
    than `stride` context tokens besides the question and the 4 special tokens."""
    budget = settings["max_length"] - settings["stride"] - 5
    if budget < 1:
        raise ValueError(f"span_qa: max_length {settings['max_length']} is too small for stride {settings['stride']}")
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    return [q if len(offsets) <= budget else q[: offsets[budget - 1][1]]
            for q, offsets in zip(questions, encoded["offset_mapping"])]


def _answer_positions(example: dict, offsets: list[list[int]]) -> tuple[int, int]:
    """Token positions of the first gold answer inside this window, or (0, 0) if outside."""
    answers = example.get("answers") or {}
    if not answers.get("text"):
        return 0, 0
    start_char = answers["answer_start"][0]
    end_char = start_char + len(answers["text"][0])
    context_tokens = [i for i, (s, e) in enumerate(offsets) if s >= 0]
    if not context_tokens or offsets[context_tokens[0]][0] > start_char or offsets[context_tokens[-1]][1] < end_char:
        return 0, 0
    start = next(i for i in context_tokens if offsets[i][1] > start_char)
    end = next(i for i in reversed(context_tokens) if offsets[i][0] < end_char)
    return start, end


def _best_span(logits: np.ndarray, offsets: list, context: str, max_tokens: int) -> tuple[float, str] | None:
    starts = np.argsort(logits[:, 0])[::-1][:N_BEST]
    ends = np.argsort(logits[:, 1])[::-1][:N_BEST]
    best = None
    for s in starts:
        if offsets[s][0] < 0:
            continue
        for e in ends:
            if offsets[e][0] < 0 or e < s or e - s + 1 > max_tokens:
                continue
            score = float(logits[s, 0] + logits[e, 1])
            if best is None or score > best[0]:
                best = (score, context[offsets[s][0] : offsets[e][1]])
    return best
