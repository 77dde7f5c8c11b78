"""Train an XLM-R-style tokenizer on the demo corpora.

The demo model is a tiny XLM-R trained from scratch, so its tokenizer must behave like
XLM-R's: a SentencePiece Unigram model over Metaspace ("▁") pre-tokenized words, with
<s>=0, <pad>=1, </s>=2, <unk>=3 and <mask> as the last id, and the XLM-R pair template
`<s> A </s></s> B </s>`.

The result is a `transformers.XLMRobertaTokenizer` (in transformers 5 that class *is* the
fast, `tokenizers`-backed one). When it is loaded back, that class rebuilds its whole
pipeline from the saved vocabulary: whitespace split, Metaspace with a prefix "▁", the
pair template, unknown id 3, and no normalizer (only a SentencePiece precompiled charsmap
would survive). So we train with exactly that pipeline and build the returned tokenizer
through the same constructor; what the workflow trains with is what it later loads.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from typing import Iterable

import transformers
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3, as in XLM-R
MASK_TOKEN = "<mask>"  # the last id, as in XLM-R
# SentencePiece's default: the rarest characters, 0.05 % of the text, become <unk> instead of
# taking vocabulary slots.
CHARACTER_COVERAGE = 0.9995
# SentencePiece stores scores as float32; rounding below that precision hides the
# summation-order noise of the trainer, so equal corpora give byte-equal tokenizers.
SCORE_DECIMALS = 4


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    model_max_length: int,
    *,
    character_coverage: float = CHARACTER_COVERAGE,
) -> transformers.PreTrainedTokenizerFast:
    """Train a Unigram tokenizer with XLM-R's pipeline and special tokens on `texts`.

    The vocabulary has at most `vocab_size` entries, <mask> included. Characters outside
    `character_coverage` of the corpus are left out and encode as <unk>.
    """
    metaspace = _metaspace()
    words_per_text = [[word for word, _ in metaspace.pre_tokenize_str(text)] for text in texts]
    alphabet = _covered_characters(words_per_text, character_coverage)
    budget = vocab_size - len(SPECIAL_TOKENS) - 1
    if len(alphabet) > budget:
        raise ValueError(
            f"vocab_size {vocab_size} leaves {budget} pieces for {len(alphabet)} characters "
            f"(at coverage {character_coverage}); raise vocab_size or lower the coverage"
        )
    clean_words = _without_rare_characters(words_per_text, alphabet)
    pieces = _train_pieces([_script_runs(words) for words in clean_words], alphabet, vocab_size - 1)
    return transformers.XLMRobertaTokenizer(
        vocab=_canonical_vocab(pieces, vocab_size),
        mask_token=AddedToken(MASK_TOKEN, lstrip=True, rstrip=False, special=True, normalized=False),
        model_max_length=model_max_length,
    )


def _metaspace() -> pre_tokenizers.PreTokenizer:
    # The pre-tokenizer XLMRobertaTokenizer rebuilds on load (add_prefix_space=True).
    return pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )


def _covered_characters(words_per_text: list[list[str]], coverage: float) -> list[str]:
    """The most frequent characters that together make up `coverage` of all characters."""
    counts = Counter(char for words in words_per_text for word in words for char in word)
    total = sum(counts.values())
    kept, covered = [], 0
    # Ties broken by the character itself, so that the cut does not depend on corpus order.
    for char, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if covered >= coverage * total:
            break
        kept.append(char)
        covered += count
    return sorted(kept)


def _without_rare_characters(words_per_text: list[list[str]], alphabet: list[str]) -> list[list[str]]:
    """Split words at characters outside the alphabet, which the tokenizer will map to <unk>."""
    allowed = set(alphabet)
    clean = []
    for words in words_per_text:
        pieces = ["".join(char if char in allowed else " " for char in word).split() for word in words]
        clean.append([piece for word_pieces in pieces for piece in word_pieces])
    return clean


def _script_runs(words: list[str]) -> list[str]:
    """Split words where the script changes, as SentencePiece does when it trains XLM-R's model.

    Its split_by_unicode_script and split_by_number keep pieces from spanning letters and digits
    or two scripts: "猫安娜5" stays "猫安娜" + "5", so numbers remain anchors shared by all languages.
    Only training sees the split; at encoding time the vocabulary simply has no such pieces.
    """
    runs = []
    for word in words:
        run, run_script = "", None
        for char in word:
            script = _script(char)
            if run and run.strip("▁") and script not in (None, run_script):
                runs.append(run)
                run = ""
            run += char
            if script is not None and char != "▁":
                run_script = script
        runs.append(run)
    return runs


def _script(char: str) -> str | None:
    """A stand-in for the Unicode Script property (the standard library lacks it); None: goes with its neighbour."""
    category = unicodedata.category(char)
    if char == "▁" or category.startswith("M"):  # the word mark joins the next character, a combining mark the last
        return None
    if category == "Nd":
        return "DIGIT"
    if not category.startswith("L"):
        return "COMMON"  # punctuation, symbols
    script = unicodedata.name(char, "UNKNOWN").split(" ")[0]
    # Chinese characters and kana form one script, as in SentencePiece: Japanese mixes them within words.
    return "HAN" if script.startswith(("CJK", "HIRAGANA", "KATAKANA")) else script


def _train_pieces(words_per_text: list[list[str]], alphabet: list[str], size: int) -> list[tuple[str, float]]:
    """Run the `tokenizers` Unigram trainer on already pre-tokenized words; return (piece, score) pairs."""
    trainer_input = Tokenizer(models.Unigram())
    # The words already carry their "▁"; splitting on the spaces we join them with gives them back unchanged.
    trainer_input.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.UnigramTrainer(
        vocab_size=size, special_tokens=SPECIAL_TOKENS, unk_token="<unk>", show_progress=False
    )
    lines = [" ".join(words) for words in words_per_text]
    # The trainer seeds EM with the substrings that the suffix array sees followed by two different
    # characters among the *distinct* words, so a word that is no prefix of another ("▁Anna") is
    # never a candidate, however frequent. Large corpora hide this; the small synthetic ones do not.
    # One extra "w▁" per repeated word w makes it a candidate at the cost of one count; the pieces
    # with an inner "▁" that this creates are dropped afterwards.
    lines += _words_with_a_second_ending(words_per_text)
    # One bare occurrence of every character keeps each one in the EM model. Otherwise the trainer
    # re-adds the characters EM dropped with scores handed out in hash-map order, which differs
    # from run to run (tokenizers 0.23).
    lines += alphabet
    trainer_input.train_from_iterator(lines, trainer=trainer)
    return [tuple(entry) for entry in json.loads(trainer_input.to_str())["model"]["vocab"]]


def _words_with_a_second_ending(words_per_text: list[list[str]]) -> list[str]:
    counts = Counter(word for words in words_per_text for word in words)
    return sorted(word + "▁" for word, count in counts.items() if count > 1)


def _canonical_vocab(pieces: list[tuple[str, float]], vocab_size: int) -> list[tuple[str, float]]:
    """At most `vocab_size` entries: special tokens in XLM-R's order, pieces by score and text, <mask>.

    The trainer orders pieces of equal score by hash-map iteration, so ids would differ
    between runs without a fixed order.
    """
    ordinary = [
        (piece, round(score, SCORE_DECIMALS))
        for piece, score in pieces
        # Encoding only ever puts "▁" at a word's start: these come from the "w▁" words.
        if piece not in SPECIAL_TOKENS + [MASK_TOKEN] and "▁" not in piece[1:]
    ]
    ordinary.sort(key=lambda entry: (-entry[1], entry[0]))
    # Near its floor (every character plus the special tokens) the trainer returns more pieces
    # than asked for (tokenizers 0.23): keep every character and the best longer pieces.
    room = vocab_size - len(SPECIAL_TOKENS) - 1 - sum(len(piece) == 1 for piece, _ in ordinary)
    longer = [piece for piece, _ in ordinary if len(piece) > 1]
    dropped = set(longer[max(room, 0):])
    kept = [entry for entry in ordinary if entry[0] not in dropped]
    return [(token, 0.0) for token in SPECIAL_TOKENS] + kept + [(MASK_TOKEN, 0.0)]
