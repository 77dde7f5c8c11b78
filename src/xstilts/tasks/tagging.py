"""Token labels: POS, NER, CCG supertags. Each word is labelled on its first sub-word."""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import pyarrow as pa
from .. import metrics
from .base import IGNORE_INDEX, TaskType, table_columns

FALLBACK_TAG = "O"  # for words cut off by truncation, which the model never saw


class Tagging(TaskType):
    name = "tagging"

    @staticmethod
    def labels_from(features: dict[str, list]) -> list[str]:
        """The tag set of a training set (features keep tags as strings, so the set is free)."""
        return sorted({tag for tags in features["token_tags"] for tag in tags if tag})

    def featurize(self, examples, tokenizer, settings):
        return table_columns(self.feature_table(examples, tokenizer, settings))

    def feature_table(self, examples, tokenizer, settings):
        """input_ids; token_tags: the tag of each word's first sub-token, "" on every other token;
        first_token: per word, the position of its first sub-token, -1 for words that truncation
        cut off (the model never saw them; decode gives them FALLBACK_TAG).

        Built as whole-batch arrays: a Python loop per token cost as much as the Parquet write.
        token_tags is stored dictionary-encoded (int32 ids into the file's own tag list), so the
        file holds ids while every reader still gets the tag strings back."""
        check_tags_match_tokens(examples)
        if not examples:  # the tokenizer answers an empty batch with one empty encoding, not none
            return pa.table({name: pa.array([], type) for name, type in FEATURE_TYPES.items()})
        # No attention mask: collate derives it from the padding, and building it costs the call 5 %.
        encoded = tokenizer([ex["tokens"] for ex in examples], is_split_into_words=True, truncation=True,
                            max_length=settings["max_length"], return_attention_mask=False)
        word_offsets = offsets_of([len(ex["tokens"]) for ex in examples])
        first = first_subtokens(encoded.encodings, word_offsets)
        tag_names, word_tag_ids = tag_ids_per_word(examples)
        token_tag_ids = np.zeros(first.row_offsets[-1], dtype=np.int32)  # id 0 is ""
        token_tag_ids[first.token] = word_tag_ids[first.word]
        firsts = np.full(word_offsets[-1], -1, dtype=np.int32)
        firsts[first.word] = first.position
        return pa.table({
            "input_ids": pa.array(encoded["input_ids"], FEATURE_TYPES["input_ids"]),
            "token_tags": ragged(pa.DictionaryArray.from_arrays(token_tag_ids, tag_names), first.row_offsets),
            "first_token": ragged(pa.array(firsts), word_offsets),
        })

    def collate(self, rows, pad_id):
        from .tensors import encoder_inputs, pad_2d

        batch = encoder_inputs([r["input_ids"] for r in rows], pad_id)
        index = {label: i for i, label in enumerate(self.labels)}
        label_rows = [[index.get(tag, IGNORE_INDEX) if tag else IGNORE_INDEX for tag in r["token_tags"]] for r in rows]
        batch["labels"] = pad_2d(label_rows, IGNORE_INDEX)
        return batch

    def make_head(self, hidden_size, dropout):
        from torch import nn

        return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, len(self.labels)))

    def forward(self, encode, head, batch):
        from .tensors import token_cross_entropy

        logits = head(encode(batch["input_ids"], batch["attention_mask"]))
        loss = None
        if "labels" in batch:
            loss = token_cross_entropy(logits, batch["labels"])
        return loss, logits

    def output_log_probs(self, outputs, batch):
        import torch.nn.functional as F

        return F.log_softmax(outputs.float(), dim=-1)[batch["attention_mask"].bool()]

    def unbatch(self, outputs, batch):
        from .tensors import trim_per_row

        return trim_per_row(outputs.argmax(dim=-1), batch)

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


FEATURE_TYPES = {"input_ids": pa.list_(pa.int32()), "token_tags": pa.list_(pa.dictionary(pa.int32(), pa.string())),
                 "first_token": pa.list_(pa.int32())}


def check_tags_match_tokens(examples: list[dict]) -> None:
    mismatched = [ex["id"] for ex in examples if ex.get("tags") and len(ex["tags"]) != len(ex["tokens"])]
    if mismatched:
        raise ValueError(f"examples {mismatched[:5]}: 'tokens' and 'tags' differ in length")


def tag_ids_per_word(examples: list[dict]) -> tuple[pa.Array, np.ndarray]:
    """(tag names, the id of every word's tag, all examples end to end). Name 0 is "": the tag of
    tokens that carry none, and of every word of an example without tags (unlabelled test data)."""
    words = itertools.chain.from_iterable(ex.get("tags") or [""] * len(ex["tokens"]) for ex in examples)
    encoded = pa.array(["", *words], pa.string()).dictionary_encode()  # ids in order of first appearance
    return encoded.dictionary, encoded.indices.to_numpy()[1:]


class FirstSubTokens(NamedTuple):
    """The first sub-token of every word the tokenizer kept, for a whole batch at once."""

    token: np.ndarray  # its index among all the batch's tokens, rows end to end
    position: np.ndarray  # its position within its row
    word: np.ndarray  # its word's index among all the batch's words, examples end to end
    row_offsets: np.ndarray  # where each row's tokens start among the batch's tokens, and the end


def first_subtokens(encodings, word_offsets: np.ndarray) -> FirstSubTokens:
    """From the fast tokenizer's encodings, whose word_ids are None for special tokens;
    `word_offsets`: where each example's words start among the batch's words, and the end."""
    # pyarrow reads the ragged word ids in C, Nones included, and hands back the row offsets.
    word_ids = pa.array([encoding.word_ids for encoding in encodings], pa.list_(pa.int64()))
    row_offsets = word_ids.offsets.to_numpy()
    word = word_ids.values.fill_null(-1).to_numpy()
    row_start = row_offsets[:-1]
    previous = np.roll(word, 1)
    previous[row_start[row_start < len(word)]] = -1  # a row's first token starts a word
    token = np.flatnonzero((word >= 0) & (word != previous))
    row = np.searchsorted(row_start, token, side="right") - 1  # the last of equal starts: empty rows hold none
    return FirstSubTokens(token, token - row_start[row], word_offsets[row] + word[token], row_offsets)


def offsets_of(lengths: list[int]) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def ragged(values: pa.Array, offsets: np.ndarray) -> pa.ListArray:
    """The flat values as consecutive list rows between the offsets (no copy of the values)."""
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
