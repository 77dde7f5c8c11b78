"""Masked language modelling, for pre-training the demo model (and MLM-during-intermediate
variants). Masks are drawn per batch from a generator the training loop seeds from the batch's
place in the run, so the seed fixes them whatever process collates the batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .base import IGNORE_INDEX, TaskType

if TYPE_CHECKING:
    import torch


class MaskedLM(TaskType):
    name = "mlm"
    draws_when_collating = True

    def __init__(self, labels=None, *, mask_token_id: int = 0, vocab_size: int = 0,
                 special_ids: tuple[int, ...] = (), probability: float = 0.15):
        super().__init__(labels)
        self.mask_token_id = mask_token_id
        self.vocab_size = vocab_size
        self.special_ids = tuple(special_ids)
        self.probability = probability

    @classmethod
    def for_tokenizer(cls, tokenizer, probability: float = 0.15) -> "MaskedLM":
        """Masking with the ids of the model's own tokenizer."""
        if tokenizer is None or tokenizer.mask_token_id is None:
            raise ValueError("masked-LM training needs a tokenizer with a mask token")
        return cls(mask_token_id=tokenizer.mask_token_id, vocab_size=len(tokenizer),
                   special_ids=tuple(tokenizer.all_special_ids), probability=probability)

    def featurize(self, examples, tokenizer, settings):
        encoded = tokenizer([ex["text"] for ex in examples], truncation=True, max_length=settings["max_length"])
        return {"input_ids": encoded["input_ids"]}

    def collate(self, rows, pad_id, generator: torch.Generator | None = None, row_seeds: list[int] | None = None):
        """Masks from `generator` (the training loop seeds one per batch), or, with `row_seeds`, each
        row's from its own seed (dev evaluation: the masks then do not depend on how rows are batched)."""
        import torch

        from .tensors import encoder_inputs

        batch = encoder_inputs([r["input_ids"] for r in rows], pad_id)
        input_ids = batch["input_ids"].clone()
        maskable = batch["attention_mask"].bool()
        for special in self.special_ids:
            maskable &= input_ids != special
        choice, roll, random_ids = self._draws(input_ids.shape, [len(r["input_ids"]) for r in rows], generator, row_seeds)
        chosen = (choice < self.probability) & maskable
        labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
        # BERT's 80/10/10 rule: most chosen tokens become <mask>, some random, some unchanged.
        input_ids[chosen & (roll < 0.8)] = self.mask_token_id
        randomised = chosen & (roll >= 0.8) & (roll < 0.9)
        input_ids[randomised] = random_ids[randomised]
        batch["input_ids"], batch["labels"] = input_ids, labels
        return batch

    def _draws(self, shape, lengths, generator, row_seeds):
        """Uniform draws for choosing and for the 80/10/10 roll, and random token ids."""
        import torch

        if row_seeds is None:
            return (torch.rand(shape, generator=generator), torch.rand(shape, generator=generator),
                    torch.randint(self.vocab_size, shape, generator=generator))
        choice, roll = torch.ones(shape), torch.ones(shape)  # padding: never chosen
        random_ids = torch.zeros(shape, dtype=torch.long)
        for row, (seed, length) in enumerate(zip(row_seeds, lengths)):
            own = torch.Generator().manual_seed(int(seed))
            choice[row, :length] = torch.rand(length, generator=own)
            roll[row, :length] = torch.rand(length, generator=own)
            random_ids[row, :length] = torch.randint(self.vocab_size, (length,), generator=own)
        return choice, roll, random_ids

    def make_head(self, hidden_size, dropout):
        raise ValueError("the MLM head comes with the masked-LM model; it is not built per task")

    def forward(self, encode, head, batch):
        import torch

        from .tensors import token_cross_entropy

        logits = head(encode(batch["input_ids"], batch["attention_mask"]))
        loss = token_cross_entropy(logits, batch["labels"])
        return loss, torch.stack([logits.argmax(dim=-1), batch["labels"]], dim=-1)

    def unbatch(self, outputs, batch):
        from .tensors import trim_per_row

        return trim_per_row(outputs, batch)

    def decode(self, outputs, features, examples, settings):
        predictions = []
        for ex, pairs in zip(examples, outputs):
            masked = pairs[:, 1] != IGNORE_INDEX
            predictions.append({"id": ex["id"], "correct": int(np.sum(pairs[masked, 0] == pairs[masked, 1])),
                                "masked": int(masked.sum())})
        return predictions

    def score(self, predictions, examples, metric, lang):
        masked = sum(p["masked"] for p in predictions)
        value = 100.0 * sum(p["correct"] for p in predictions) / max(masked, 1)
        return {"mlm_accuracy": value, "score": value}
