"""The trained tokenizer, saved and loaded back, behaves like XLM-R's where the workflow relies on it."""

from __future__ import annotations

import itertools
import json
import random
import unicodedata

import pytest
from transformers import AutoTokenizer

from xstilts.tokenizer_training import train_tokenizer

VOCAB_SIZE = 400
MAX_LENGTH = 64

# One small lexicon in four scripts; Chinese and Japanese are written without spaces.
LEXICON = {
    "en": ["the cat", "the dog", "sees", "eats", "the river", "the red house", "near", "Anna", "Omar"],
    "fr": ["le chat", "le chien", "voit", "mange", "la rivière", "la maison rouge", "près de", "Anna", "Omar"],
    "ru": ["кошка", "собака", "видит", "ест", "реку", "красный дом", "около", "Анна", "Омар"],
    "ar": ["القطة", "الكلب", "ترى", "تأكل", "النهر", "البيت الأحمر", "قرب", "آنا", "عمر"],
    "zh": ["猫", "狗", "看见", "吃", "河", "红房子", "附近", "安娜", "奥马尔"],
    "ja": ["猫が", "犬を", "見る", "食べる", "川", "赤い家", "近く", "アンナ", "オマル"],
}
NO_SPACES = {"zh", "ja"}


def toy_corpus(sentences_per_language: int = 60, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    corpus = []
    for _, language in itertools.product(range(sentences_per_language), sorted(LEXICON)):
        words = rng.sample(LEXICON[language], 4) + [str(rng.randint(1, 99))]
        corpus.append(("" if language in NO_SPACES else " ").join(words) + ".")
    return corpus


CORPUS = toy_corpus()
SAMPLES = {
    "en": "Anna sees the red house near the river 42.",
    "ru": "Анна видит красный дом около реку 42.",
    "ar": "آنا ترى البيت الأحمر قرب النهر 42.",
    "zh": "安娜看见河附近的红房子42。",
    "ja": "アンナが赤い家を見る42。",
}


@pytest.fixture(scope="module")
def trained():
    return train_tokenizer(CORPUS, vocab_size=VOCAB_SIZE, model_max_length=MAX_LENGTH)


@pytest.fixture(scope="module")
def saved_dir(trained, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    trained.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tokenizer(saved_dir):
    return AutoTokenizer.from_pretrained(saved_dir)


def visible_tokens(tokenizer, text):
    """(token, text span) for every non-special token of `text`."""
    encoding = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    tokens = encoding.tokens()
    return [(token, text[start:end]) for token, (start, end) in zip(tokens, encoding["offset_mapping"])]


def test_reloads_as_a_fast_xlm_roberta_tokenizer(tokenizer, trained, saved_dir):
    config = json.loads((saved_dir / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "XLMRobertaTokenizer"
    assert type(tokenizer).__name__ == "XLMRobertaTokenizer"
    assert tokenizer.is_fast
    assert tokenizer.model_max_length == MAX_LENGTH
    # What the workflow trains with is what it loads later.
    for text in CORPUS[:50] + list(SAMPLES.values()):
        assert tokenizer(text)["input_ids"] == trained(text)["input_ids"]


def test_special_token_ids_match_xlm_roberta(tokenizer):
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in ["<s>", "<pad>", "</s>", "<unk>"]}
    assert ids == {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id) == (0, 2, 1)
    assert tokenizer.mask_token == "<mask>"
    assert tokenizer.mask_token_id == len(tokenizer) - 1
    assert len(tokenizer) <= VOCAB_SIZE
    assert tokenizer("Anna <mask>.", add_special_tokens=False)["input_ids"].count(tokenizer.mask_token_id) == 1
    padded = tokenizer(["Anna", SAMPLES["en"]], padding=True)
    assert padded["input_ids"][0][-1] == 1 and padded["attention_mask"][0][-1] == 0


def test_frequent_words_become_pieces(tokenizer):
    # Each of these words is in the corpus often, but is no prefix of another word there.
    assert tokenizer.tokenize("Anna sees the river") == ["▁Anna", "▁sees", "▁the", "▁river"]
    assert tokenizer.tokenize("Анна видит реку") == ["▁Анна", "▁видит", "▁реку"]


def scripts(piece: str) -> set[str]:
    names = {unicodedata.name(char).split(" ")[0] for char in piece if char.isalpha()}
    return {"HAN" if name in ("CJK", "HIRAGANA", "KATAKANA") else name for name in names}


def test_no_piece_mixes_digits_with_letters_or_scripts(tokenizer):
    pieces = [piece.lstrip("▁") for piece in tokenizer.get_vocab() if piece not in tokenizer.all_special_tokens]
    assert not [piece for piece in pieces if any(c.isdigit() for c in piece) and any(c.isalpha() for c in piece)]
    assert not [piece for piece in pieces if len(scripts(piece)) > 1]


def test_single_and_pair_templates(tokenizer):
    first, second = SAMPLES["en"], SAMPLES["zh"]
    first_ids = tokenizer(first, add_special_tokens=False)["input_ids"]
    second_ids = tokenizer(second, add_special_tokens=False)["input_ids"]
    assert tokenizer(first)["input_ids"] == [0] + first_ids + [2]
    pair = tokenizer(first, second)
    assert pair["input_ids"] == [0] + first_ids + [2, 2] + second_ids + [2]
    assert pair.sequence_ids() == [None] + [0] * len(first_ids) + [None, None] + [1] * len(second_ids) + [None]


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_offsets_map_back_into_the_text(tokenizer, language):
    text = SAMPLES[language]
    tokens = visible_tokens(tokenizer, text)
    assert all(span for _, span in tokens)
    # A token's text, less its "▁", is exactly its span, except for a lone "▁": it carries the
    # span of the next character. (An unknown token's text is the original text, not "<unk>".)
    words = [(token.lstrip("▁"), span) for token, span in tokens if token != "▁"]
    assert all(piece == span for piece, span in words)
    spans = "".join(span for token, span in tokens if token != "▁")
    assert spans == "".join(text.split())


def test_unknown_characters_become_unk(tokenizer):
    text = "Anna ☃ sees 🙂x"  # none of ☃, 🙂, x is in the corpus
    encoding = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    span_ids = {text[start:end]: token_id for token_id, (start, end) in zip(encoding["input_ids"], encoding["offset_mapping"])}
    assert span_ids["☃"] == tokenizer.unk_token_id
    assert span_ids["🙂x"] == tokenizer.unk_token_id  # neighbouring unknowns fuse, as in SentencePiece
    assert span_ids["Anna"] != tokenizer.unk_token_id
    assert tokenizer.decode(encoding["input_ids"]) == "Anna <unk> sees <unk>"


def test_rare_characters_are_left_out_of_the_vocabulary():
    rare = "ʬ"  # once in the whole corpus: below SentencePiece's default character coverage
    corpus = CORPUS + [f"Anna {rare}"]
    tokenizer = train_tokenizer(corpus, vocab_size=VOCAB_SIZE, model_max_length=MAX_LENGTH)
    assert rare not in "".join(tokenizer.get_vocab())
    assert tokenizer.unk_token_id in tokenizer(rare)["input_ids"]
    covering_all = train_tokenizer(corpus, vocab_size=VOCAB_SIZE, model_max_length=MAX_LENGTH, character_coverage=1.0)
    assert rare in covering_all.get_vocab()


def test_question_answering_windows(tokenizer):
    question = SAMPLES["en"]
    context = " ".join(SAMPLES[language] for language in sorted(SAMPLES) for _ in range(2))
    features = tokenizer(
        [question], [context], truncation="only_second", max_length=40, stride=8,
        return_overflowing_tokens=True, return_offsets_mapping=True,
    )
    windows = len(features["input_ids"])
    assert windows >= 3
    assert features["overflow_to_sample_mapping"] == [0] * windows
    question_ids = tokenizer(question, add_special_tokens=False)["input_ids"]
    context_offsets = []
    for index in range(windows):
        ids = features["input_ids"][index]
        assert len(ids) <= 40
        assert ids[: len(question_ids) + 3] == [0] + question_ids + [2, 2]
        sequence_ids = features.sequence_ids(index)
        offsets = [tuple(offset) for offset, part in zip(features["offset_mapping"][index], sequence_ids) if part == 1]
        context_offsets.append(offsets)
    for before, after in zip(context_offsets, context_offsets[1:]):
        assert before[-8:] == after[:8]  # consecutive windows share `stride` tokens
    covered = sorted(set(itertools.chain.from_iterable(context_offsets)))
    assert covered[0][0] == 0 and covered[-1][1] == len(context)
    assert "".join(context[start:end] for start, end in _distinct_spans(covered)) == "".join(context.split())


def _distinct_spans(spans):
    """Spans in order without the duplicates a lone "▁" makes by sharing its next character's span."""
    return [span for index, span in enumerate(spans) if index + 1 == len(spans) or spans[index + 1][0] >= span[1]]


def test_pretokenized_words_and_word_ids(tokenizer):
    sentences = [SAMPLES["ru"].split(), list("安娜看见河")]
    batch = tokenizer(sentences, is_split_into_words=True)
    for index, words in enumerate(sentences):
        word_ids = batch.word_ids(index)
        tokens = batch.tokens(index)
        assert word_ids[0] is None and word_ids[-1] is None
        inner = word_ids[1:-1]
        assert None not in inner and inner == sorted(inner)
        assert sorted(set(inner)) == list(range(len(words)))
        for word_index, word in enumerate(words):
            pieces = [token for token, owner in zip(tokens, word_ids) if owner == word_index]
            assert pieces[0].startswith("▁")  # every word starts a new piece, as XLM-R's would
            assert "".join(pieces).lstrip("▁") == word


def test_training_is_deterministic(trained):
    again = train_tokenizer(list(CORPUS), vocab_size=VOCAB_SIZE, model_max_length=MAX_LENGTH)
    once_more = train_tokenizer(iter(CORPUS), vocab_size=VOCAB_SIZE, model_max_length=MAX_LENGTH)
    assert again.get_vocab() == trained.get_vocab() == once_more.get_vocab()
    assert again.backend_tokenizer.to_str() == trained.backend_tokenizer.to_str() == once_more.backend_tokenizer.to_str()


def test_smallest_vocabulary_holds_every_character_and_no_more():
    alphabet = set("".join(CORPUS).replace(" ", "")) | {"▁"}
    smallest = len(alphabet) + 5  # four special tokens before the characters, <mask> after them
    tokenizer = train_tokenizer(CORPUS, vocab_size=smallest, model_max_length=MAX_LENGTH, character_coverage=1.0)
    assert len(tokenizer) <= smallest
    assert alphabet <= set(tokenizer.get_vocab())
    assert tokenizer.unk_token_id not in tokenizer(CORPUS[0])["input_ids"]


def test_too_small_a_vocabulary_is_an_error():
    with pytest.raises(ValueError, match="vocab_size 40 leaves 35 pieces"):
        train_tokenizer(CORPUS, vocab_size=40, model_max_length=MAX_LENGTH)
