"""A model's `tokenizer.json` read with the `tokenizers` library alone, for the tokenize stage.

transformers' fast tokenizers are this Rust tokenizer plus a wrapper; importing the wrapper
imports transformers and torch (about 2 s per job, most of a tokenize job). `TokenizerFile`
answers the calls the task types' featurisation makes the way the wrapper answers them:
truncation and stride set on the Rust tokenizer, no padding, overflowing windows flattened
after their example with `overflow_to_sample_mapping`, `word_ids` and `sequence_ids` from the
encodings. tests/test_tokenizer_file.py checks that both give byte-identical feature files for
an XLM-R and a BERT tokenizer on every task type.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Encoding, Tokenizer

# transformers' names of the truncation strategies the featurisation uses; True is its default.
TRUNCATION = {True: "longest_first", "longest_first": "longest_first", "only_first": "only_first",
              "only_second": "only_second"}


class TokenizerFileError(ValueError):
    """A tokenizer folder the tokenize stage cannot read, with what is wrong with it."""


class TokenizerFile:
    """tokenizer(texts, pairs=None, truncation=..., max_length=..., stride=..., ...) as
    transformers' fast tokenizers answer it, for batches (lists) of texts."""

    def __init__(self, backend: Tokenizer, *, truncation_side: str = "right"):
        self.backend = backend
        self.truncation_side = truncation_side
        self.backend.no_padding()
        self.backend.no_truncation()

    def __call__(self, text: list, text_pair: list | None = None, *, truncation=False, max_length: int | None = None,
                 stride: int = 0, is_split_into_words: bool = False, add_special_tokens: bool = True,
                 return_overflowing_tokens: bool = False, return_offsets_mapping: bool = False,
                 return_attention_mask: bool = False) -> "Encoded":
        if not isinstance(text, (list, tuple)):
            raise TypeError("TokenizerFile encodes batches: pass a list of texts")
        if text_pair is not None and len(text_pair) != len(text):
            raise ValueError(f"{len(text)} texts but {len(text_pair)} text pairs")
        self._truncate(truncation, max_length, stride)
        batch = list(zip(text, text_pair)) if text_pair is not None else list(text)
        encodings = self.backend.encode_batch(batch, add_special_tokens=add_special_tokens,
                                              is_pretokenized=is_split_into_words)
        return Encoded(encodings, overflowing=return_overflowing_tokens, offsets=return_offsets_mapping)

    def _truncate(self, truncation, max_length: int | None, stride: int) -> None:
        if not truncation:
            self.backend.no_truncation()
            return
        if truncation not in TRUNCATION:
            raise ValueError(f"unknown truncation strategy {truncation!r} (known: {', '.join(map(str, TRUNCATION))})")
        if max_length is None:
            raise ValueError("truncation needs max_length (the stage always passes the task type's length)")
        self.backend.enable_truncation(max_length, stride=stride, strategy=TRUNCATION[truncation],
                                       direction=self.truncation_side)


class Encoded:
    """The part of transformers' BatchEncoding the featurisation reads: `encoded["input_ids"]`,
    `["offset_mapping"]`, `["overflow_to_sample_mapping"]`, `.encodings`, `.sequence_ids(i)`,
    `.word_ids(i)`; overflowing windows come right after the window they continue."""

    def __init__(self, encodings: list[Encoding], *, overflowing: bool, offsets: bool):
        per_example = [[e, *e.overflowing] if overflowing else [e] for e in encodings]
        self.encodings = [window for windows in per_example for window in windows]
        self.data = {"input_ids": [e.ids for e in self.encodings]}
        if offsets:
            self.data["offset_mapping"] = [e.offsets for e in self.encodings]
        if overflowing:
            self.data["overflow_to_sample_mapping"] = [i for i, windows in enumerate(per_example) for _ in windows]

    def __getitem__(self, key: str) -> list:
        return self.data[key]

    def sequence_ids(self, index: int) -> list:
        return self.encodings[index].sequence_ids

    def word_ids(self, index: int) -> list:
        return self.encodings[index].word_ids


def load(model_dir: str | Path) -> TokenizerFile:
    """The tokenizer of a model folder in the hub's layout (save_pretrained's tokenizer.json, and
    tokenizer_config.json for the truncation side)."""
    folder = Path(model_dir)
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise TokenizerFileError(f"{folder}: no tokenizer.json (the tokenize stage reads a fast tokenizer's file; "
                                 "save the tokenizer with transformers' save_pretrained)")
    try:
        backend = Tokenizer.from_file(str(path))
    except Exception as error:  # the Rust side raises a bare Exception on a malformed file
        raise TokenizerFileError(f"{path}: not a tokenizer file the tokenizers library reads: {error}") from None
    return TokenizerFile(backend, truncation_side=_truncation_side(folder))


def _truncation_side(folder: Path) -> str:
    config = folder / "tokenizer_config.json"
    side = json.loads(config.read_text(encoding="utf-8")).get("truncation_side", "right") if config.is_file() else "right"
    if side not in ("right", "left"):
        raise TokenizerFileError(f"{config}: truncation_side is {side!r}; it must be 'right' or 'left'")
    return side
