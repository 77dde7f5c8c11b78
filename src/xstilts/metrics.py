"""Evaluation metrics for the XTREME tasks, reproducing the official scorers.

Every score is a float on a 0-100 scale.

Sources whose behaviour is reproduced here (re-implemented, not copied):

* SQuAD v1.1 ``evaluate-v1.1.py`` (XQuAD, TyDiQA-GoldP in XTREME's ``evaluate.py``).
* MLQA ``mlqa_evaluation_v1.py`` (MLQA).
* seqeval as XTREME's ``run_tag.py`` / ``evaluate.py`` and jiant's
  ``F1TaggingEvaluationScheme`` call it (PAN-X, UDPOS).
* XTREME ``third_party/utils_retrieve.py`` (BUCC mining, Tatoeba search), which
  jiant's ``tasks/lib/bucc2018.py`` and ``tasks/lib/tatoeba.py`` copy.
* XTREME-R ``utils_lareqa.py`` / ``utils_mewslix.py`` (mAP@k, MRR@k).

Where the official code crashes on an edge case (empty inputs, a best BUCC
threshold at the last candidate) this module picks a documented value instead.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np

__all__ = [
    "accuracy",
    "seqeval_f1",
    "tag_scores",
    "normalize_squad",
    "normalize_mlqa",
    "qa_exact_match",
    "qa_f1",
    "qa_scores",
    "tatoeba_accuracy",
    "margin_scores",
    "mine_pairs",
    "mine_text_pairs",
    "best_threshold",
    "mining_scores",
    "mean_average_precision_at_k",
    "rank_by_cosine",
    "unit_rows",
]


def _percent(numerator: float, denominator: float) -> float:
    return 100.0 * numerator / denominator


def _require_same_length(a: Sequence, b: Sequence, what: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{what}: {len(a)} predictions but {len(b)} references")
    if len(a) == 0:
        # The official scripts divide by zero here; an empty split is a bug upstream.
        raise ValueError(f"{what}: nothing to score")


def _precision_recall_f1(n_correct: int, n_predicted: int, n_gold: int) -> dict:
    """Micro P/R/F1 in percent; 0 wherever a denominator is 0 (seqeval's and BUCC's rule)."""
    precision = n_correct / n_predicted if n_predicted else 0.0
    recall = n_correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall}


# --------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------


def accuracy(predictions: Sequence, references: Sequence) -> float:
    """Share of positions where prediction equals reference (XNLI, PAWS-X, Tatoeba)."""
    _require_same_length(predictions, references, "accuracy")
    n_right = sum(int(p == r) for p, r in zip(predictions, references))
    return _percent(n_right, len(references))


# --------------------------------------------------------------------------------------
# Tagging: NER via seqeval, POS the way seqeval 0.0.12 scores bare tags
# --------------------------------------------------------------------------------------


def seqeval_f1(references: list[list[str]], predictions: list[list[str]]) -> dict:
    """Entity-level micro P/R/F1 over IOB2 tags, via seqeval's default (non-strict) mode.

    This is the call XTREME's run_tag.py makes for PAN-X. For well-formed ``B-X``/``I-X``/
    ``O`` tags every seqeval release since 0.0.12 agrees, so the installed one is used.
    """
    from seqeval.metrics import f1_score, precision_score, recall_score

    _require_same_length(predictions, references, "seqeval_f1")
    return {
        "f1": 100.0 * float(f1_score(references, predictions)),
        "precision": 100.0 * float(precision_score(references, predictions)),
        "recall": 100.0 * float(recall_score(references, predictions)),
    }


# seqeval reads the first character of a label as its chunk prefix. These pairs of
# (previous prefix, current prefix) close / open a chunk regardless of type.
_CLOSES_CHUNK = {("B", "B"), ("B", "S"), ("B", "O"), ("I", "B"), ("I", "S"), ("I", "O")}
_OPENS_CHUNK = {("E", "E"), ("E", "I"), ("S", "E"), ("S", "I"), ("O", "E"), ("O", "I")}


def _chunk_closes(prev_prefix: str, prefix: str, prev_type: str, type_: str) -> bool:
    if prev_prefix in ("E", "S") or (prev_prefix, prefix) in _CLOSES_CHUNK:
        return True
    return prev_prefix not in ("O", ".") and prev_type != type_


def _chunk_opens(prev_prefix: str, prefix: str, prev_type: str, type_: str) -> bool:
    if prefix in ("B", "S") or (prev_prefix, prefix) in _OPENS_CHUNK:
        return True
    return prefix not in ("O", ".") and prev_type != type_


def _legacy_seqeval_chunks(sentences: list[list[str]]) -> set[tuple[str, int, int]]:
    """Chunks as seqeval 0.0.12 (jiant's pin; XTREME's 2020 install) extracts them.

    Sentences are joined with an "O" between them, as seqeval does for nested lists.
    A label's prefix is its first character and its type is the text after its last
    "-" -- for a bare POS tag such as "NOUN" that is the whole tag. Releases >= 0.0.16
    changed the type to ``label[1:]`` ("OUN"), which merges CCONJ and SCONJ into one type
    "CONJ"; this is why the installed seqeval is not used for POS.
    """
    flat = [label for sentence in sentences for label in [*sentence, "O"]]
    chunks: set[tuple[str, int, int]] = set()
    prev_prefix, prev_type, begin = "O", "", 0
    for position, label in enumerate([*flat, "O"]):
        prefix, type_ = label[0], label.split("-")[-1]
        if _chunk_closes(prev_prefix, prefix, prev_type, type_):
            chunks.add((prev_type, begin, position - 1))
        if _chunk_opens(prev_prefix, prefix, prev_type, type_):
            begin = position
        prev_prefix, prev_type = prefix, type_
    return chunks


def tag_scores(references: list[list[str]], predictions: list[list[str]]) -> dict:
    """POS scores: ``f1`` as XTREME/jiant report UDPOS, plus plain token ``accuracy``.

    XTREME and jiant feed bare UPOS tags to seqeval's entity F1. seqeval then treats
    the tag's first letter as a B/I/E/S/O prefix, so the "entities" are maximal runs of
    one repeated tag (NOUN NOUN is a single unit that must be matched whole), except for
    tags starting with "S" (SCONJ, SYM), which seqeval reads as single-token chunks.
    That F1 is therefore *not* token accuracy; both are returned. ``precision`` and
    ``recall`` come from the same chunk counts.
    """
    _require_same_length(predictions, references, "tag_scores")
    for ref, pred in zip(references, predictions):
        if len(ref) != len(pred):
            raise ValueError(f"tag_scores: a sentence has {len(ref)} gold, {len(pred)} predicted tags")
    gold = _legacy_seqeval_chunks(references)
    guessed = _legacy_seqeval_chunks(predictions)
    scores = _precision_recall_f1(len(gold & guessed), len(guessed), len(gold))
    flat_gold = [tag for sentence in references for tag in sentence]
    flat_pred = [tag for sentence in predictions for tag in sentence]
    scores["accuracy"] = accuracy(flat_pred, flat_gold)
    return scores


# --------------------------------------------------------------------------------------
# Extractive QA: SQuAD v1.1 and MLQA normalisation, EM and token F1
# --------------------------------------------------------------------------------------

_ASCII_PUNCTUATION = frozenset(string.punctuation)


def _articles_pattern(words: Iterable[str]) -> re.Pattern:
    # \b is Unicode-aware for str patterns, as in the official Python 3 scripts.
    return re.compile(r"\b(?:" + "|".join(words) + r")\b")


_ENGLISH_ARTICLES = _articles_pattern(["a", "an", "the"])

# mlqa_evaluation_v1.py's article lists. Arabic is handled separately (see below);
# hi and zh have none. Languages outside MLQA (the official script raises) get none.
_MLQA_ARTICLES = {
    "en": _ENGLISH_ARTICLES,
    "es": _articles_pattern(["un", "una", "unos", "unas", "el", "la", "los", "las"]),
    "vi": _articles_pattern(["của", "là", "cái", "chiếc", "những"]),
    "de": _articles_pattern(
        ["ein", "eine", "einen", "einem", "eines", "einer",
         "der", "die", "das", "den", "dem", "des"]
    ),
}
_ARABIC_AL = "\u0627\u0644"  # ال
_MIXED_SEGMENTATION_LANGS = {"zh"}
_CJK_CHAR = re.compile("[\u4e00-\u9fa5]")


def _is_mlqa_punctuation(char: str) -> bool:
    """MLQA's punctuation set: every Unicode category P* character plus string.punctuation
    (the latter adds ASCII symbols such as $ + < = > ^ ` | ~)."""
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def normalize_squad(text: str) -> str:
    """SQuAD v1.1: lower-case, drop ASCII punctuation, drop a/an/the, collapse whitespace.

    The order matters: punctuation goes before articles, so "the-end" becomes "theend"
    and keeps its "the".
    """
    text = text.lower()
    text = "".join(char for char in text if char not in _ASCII_PUNCTUATION)
    text = _ENGLISH_ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _remove_mlqa_articles(text: str, lang: str) -> str:
    if lang == "ar":
        # The official regex is '\sال^|ال'; its first branch can never match ('^' after
        # three characters), so in effect every ال is replaced by a space -- including
        # inside words (بالقلم -> "ب قلم"), not just as a word-initial prefix.
        return text.replace(_ARABIC_AL, " ")
    pattern = _MLQA_ARTICLES.get(lang)
    return pattern.sub(" ", text) if pattern else text


def _mixed_segmentation(text: str) -> list[str]:
    """Each CJK character (U+4E00-U+9FA5) and each punctuation mark is its own token;
    the runs between them are split on whitespace."""
    tokens: list[str] = []
    run = ""
    for char in text:
        if _CJK_CHAR.match(char) or _is_mlqa_punctuation(char):
            tokens.extend(run.split())
            run = ""
            tokens.append(char)
        else:
            run += char
    tokens.extend(run.split())
    return tokens


def normalize_mlqa(text: str, lang: str) -> str:
    """mlqa_evaluation_v1.py: lower-case, drop Unicode+ASCII punctuation, drop the
    language's articles, then tokenise (zh: mixed segmentation; others: whitespace) and
    re-join the tokens with single spaces.

    Segmentation runs on the already punctuation-free text, so zh punctuation never
    becomes a token; zh answers that differ only in spacing normalise identically.
    Unknown languages (the official script raises) get no articles and whitespace tokens.
    """
    text = text.lower()
    text = "".join(char for char in text if not _is_mlqa_punctuation(char))
    text = _remove_mlqa_articles(text, lang)
    tokens = _mixed_segmentation(text) if lang in _MIXED_SEGMENTATION_LANGS else text.split()
    return " ".join(token for token in tokens if token.strip())


def _normalizer(lang: str | None) -> Callable[[str], str]:
    if lang is None:
        return normalize_squad
    return lambda text: normalize_mlqa(text, lang)


def _token_f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 in [0, 1] over the normalised strings' whitespace tokens.

    As in both official scripts, no shared token means 0 -- even when both sides are
    empty (whereas exact match scores empty-vs-empty as a hit).
    """
    predicted_tokens, gold_tokens = prediction.split(), gold.split()
    n_shared = sum((Counter(predicted_tokens) & Counter(gold_tokens)).values())
    if n_shared == 0:
        return 0.0
    precision = n_shared / len(predicted_tokens)
    recall = n_shared / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _best_over_golds(score: Callable[[str, str], float], prediction: str, golds: list[str],
                     lang: str | None) -> float:
    if not golds:
        raise ValueError("a question needs at least one gold answer")
    normalize = _normalizer(lang)
    normalized_prediction = normalize(prediction)
    return max(score(normalized_prediction, normalize(gold)) for gold in golds)


def qa_exact_match(prediction: str, golds: list[str], lang: str | None = None) -> float:
    """100 if the normalised prediction equals any normalised gold, else 0.
    ``lang=None`` uses SQuAD v1.1 rules, otherwise MLQA rules for ``lang``."""
    return 100.0 * _best_over_golds(lambda p, g: float(p == g), prediction, golds, lang)


def qa_f1(prediction: str, golds: list[str], lang: str | None = None) -> float:
    """Best token F1 (0-100) of the prediction against any gold answer."""
    return 100.0 * _best_over_golds(_token_f1, prediction, golds, lang)


def qa_scores(predictions: dict[str, str], golds: dict[str, list[str]],
              lang: str | None = None) -> dict:
    """Mean EM and F1 over every gold question id; an unanswered id scores 0 (as in the
    official scripts); predictions for ids without gold are ignored. An empty gold list marks
    an unanswerable question (SQuAD v2), scored 100 for an empty prediction and 0 otherwise."""
    if not golds:
        raise ValueError("qa_scores: no gold questions")
    exact_total = f1_total = 0.0
    for question_id, answers in golds.items():
        if question_id not in predictions:
            continue
        if not answers:
            # SQuAD v2: an unanswerable question is right only when the prediction is empty.
            right = 100.0 if _normalizer(lang)(predictions[question_id]) == "" else 0.0
            exact_total += right
            f1_total += right
            continue
        exact_total += qa_exact_match(predictions[question_id], answers, lang)
        f1_total += qa_f1(predictions[question_id], answers, lang)
    return {"exact_match": exact_total / len(golds), "f1": f1_total / len(golds)}


# --------------------------------------------------------------------------------------
# Sentence retrieval: Tatoeba search and BUCC margin mining
# --------------------------------------------------------------------------------------


def _as_float(x: np.ndarray) -> np.ndarray:
    # float32 stays float32 (faiss works in float32, and it halves memory on BUCC);
    # anything else becomes float64.
    x = np.asarray(x)
    return x if x.dtype == np.float32 else x.astype(np.float64)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalise rows like faiss.normalize_L2: all-zero rows stay zero."""
    x = _as_float(x)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1)


def _top_k_by_cosine(queries: np.ndarray, keys: np.ndarray, k: int, device: str = "cpu",
                     max_block_cells: int = 1 << 25) -> tuple[np.ndarray, np.ndarray]:
    """For unit-norm rows: the k most similar keys per query, best first.

    Works through the queries in blocks so a BUCC test split (~400k x 400k) never needs
    the full similarity matrix in memory. torch does the block product and the top-k
    (numpy's argpartition was 25x slower than torch.topk here); ``device="cuda"`` moves
    that onto a GPU. Returns numpy (similarities, key indices), both (n_queries, k).
    """
    import torch

    keys_t = torch.from_numpy(np.ascontiguousarray(keys)).to(device)
    rows_per_block = max(1, max_block_cells // max(1, keys.shape[0]))
    sims_out = np.empty((queries.shape[0], k), dtype=queries.dtype)
    idx_out = np.empty((queries.shape[0], k), dtype=np.int64)
    for start in range(0, queries.shape[0], rows_per_block):
        block = torch.from_numpy(np.ascontiguousarray(queries[start:start + rows_per_block]))
        sims, idx = torch.topk(block.to(device) @ keys_t.T, k, dim=1)
        sims, idx = sims.cpu().numpy(), idx.cpu().numpy()
        # Best first; equal similarities go to the lower key index, for determinism.
        order = np.lexsort((idx, -sims), axis=1)
        sims_out[start:start + len(sims)] = np.take_along_axis(sims, order, axis=1)
        idx_out[start:start + len(sims)] = np.take_along_axis(idx, order, axis=1)
    return sims_out, idx_out


def top_k_by_cosine(queries: np.ndarray, keys: np.ndarray, k: int, *,
                    device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Each query's k most cosine-similar keys, best first: (similarities, key indices), searched in
    blocks (k is capped at the number of keys)."""
    queries, keys = _unit_rows(queries), _unit_rows(keys)
    if queries.dtype != keys.dtype:
        queries, keys = queries.astype(np.float64), keys.astype(np.float64)
    return _top_k_by_cosine(queries, keys, min(k, keys.shape[0]), device=device)


def tatoeba_accuracy(src: np.ndarray, tgt: np.ndarray) -> float:
    """Share of src rows whose cosine nearest neighbour among tgt rows is the same row.

    Direction: XTREME's and jiant's ``similarity_search(x=xx, y=en)`` index the xx
    sentences and query with the English ones, i.e. they search en -> xx. To reproduce
    their numbers call ``tatoeba_accuracy(en_embeddings, xx_embeddings)``.
    """
    src, tgt = _unit_rows(src), _unit_rows(tgt)
    if src.shape[0] != tgt.shape[0] or src.shape[0] == 0:
        raise ValueError(
            f"tatoeba_accuracy: need equal, non-zero row counts, got {src.shape[0]} and {tgt.shape[0]}"
        )
    _, nearest = _top_k_by_cosine(src, tgt, 1)
    return accuracy(nearest[:, 0].tolist(), list(range(src.shape[0])))


def _mean_top_k(similarities: np.ndarray, k: int) -> np.ndarray:
    """Mean of each row's k largest values (k is capped at the row length, as XTREME does)."""
    k = min(k, similarities.shape[1])
    return -np.mean(np.partition(-similarities, k - 1, axis=1)[:, :k], axis=1)


def margin_scores(src: np.ndarray, tgt: np.ndarray, k: int = 4) -> np.ndarray:
    """Full ratio-margin matrix: margin[i, j] = cos(x_i, y_j) / ((m_x(i) + m_y(j)) / 2),
    where m_x(i) is the mean cosine of x_i to its k nearest tgt rows and m_y(j) that of
    y_j to its k nearest src rows -- the REFERENCE formula, since sum/2k + sum/2k equals
    the average of the two means. Memory is n_src x n_tgt; use mine_pairs at scale.
    """
    src, tgt = _unit_rows(src), _unit_rows(tgt)
    cosine = src @ tgt.T
    forward_mean = _mean_top_k(cosine, k)
    backward_mean = _mean_top_k(cosine.T, k)
    return cosine / ((forward_mean[:, None] + backward_mean[None, :]) / 2)


def _best_by_margin(sims: np.ndarray, idx: np.ndarray, own_mean: np.ndarray,
                    other_mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Among each query's k cosine neighbours, the one with the highest margin (XTREME
    re-ranks only those k, it does not search the whole margin matrix)."""
    margins = sims / ((own_mean[:, None] + other_mean[idx]) / 2)
    best_column = np.argmax(margins, axis=1)
    rows = np.arange(len(idx))
    return idx[rows, best_column], margins[rows, best_column]


_RETRIEVAL_MODES = ("max", "fwd", "bwd", "intersect")


def mine_pairs(src: np.ndarray, tgt: np.ndarray, src_ids: Sequence[str],
               tgt_ids: Sequence[str], k: int = 4, retrieval: str = "max",
               device: str = "cpu") -> list[tuple[str, str, float]]:
    """BUCC candidate pairs (src_id, tgt_id, margin) as XTREME's ``mine_bitext`` makes them.

    Each src row's candidates are its k cosine nearest tgt rows, re-ranked by ratio margin
    (and vice versa for tgt rows). ``retrieval`` picks how the two directions combine:

    * ``"max"`` (XTREME's and jiant's default, used for their BUCC numbers): pool the
      forward and backward best pairs, walk them by decreasing margin and keep a pair
      only if neither side was used yet (greedy one-to-one; at most one candidate per
      src line), dropping margins <= 0 (their ``threshold=0``).
    * ``"fwd"``: each src line's best tgt line, all kept. ``"bwd"``: each tgt line's best
      src line. ``"intersect"``: forward pairs that are also backward pairs.

    Rows should be unique sentences: XTREME merges identical texts before the search and
    drops candidates whose text is on several lines; ``mine_text_pairs`` does both.
    Ties in the greedy walk are broken by a stable sort (XTREME's sort is unstable).
    ``device`` is where the k-NN search runs ("cpu", or "cuda" for a BUCC test split).
    """
    if retrieval not in _RETRIEVAL_MODES:
        raise ValueError(f"retrieval must be one of {_RETRIEVAL_MODES}, got {retrieval!r}")
    src, tgt = _unit_rows(src), _unit_rows(tgt)
    if len(src_ids) != src.shape[0] or len(tgt_ids) != tgt.shape[0]:
        raise ValueError("mine_pairs: one id per embedding row is required")
    if k < 1 or src.shape[0] == 0 or tgt.shape[0] == 0:
        raise ValueError("mine_pairs: needs k >= 1 and at least one row on each side")
    fwd_sims, fwd_idx = _top_k_by_cosine(src, tgt, min(k, tgt.shape[0]), device)
    bwd_sims, bwd_idx = _top_k_by_cosine(tgt, src, min(k, src.shape[0]), device)
    fwd_mean, bwd_mean = fwd_sims.mean(axis=1), bwd_sims.mean(axis=1)
    fwd_best, fwd_score = _best_by_margin(fwd_sims, fwd_idx, fwd_mean, bwd_mean)
    bwd_best, bwd_score = _best_by_margin(bwd_sims, bwd_idx, bwd_mean, fwd_mean)

    forward = [(i, int(j), float(s)) for i, (j, s) in enumerate(zip(fwd_best, fwd_score))]
    backward = [(int(i), j, float(s)) for j, (i, s) in enumerate(zip(bwd_best, bwd_score))]
    if retrieval == "fwd":
        chosen = forward
    elif retrieval == "bwd":
        chosen = backward
    elif retrieval == "intersect":
        chosen = [(i, j, s) for i, j, s in forward if bwd_best[j] == i]
    else:
        chosen = _greedy_one_to_one(forward + backward)
    return [(src_ids[i], tgt_ids[j], s) for i, j, s in chosen]


def _greedy_one_to_one(pairs: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """XTREME's "max" walk: best margin first, each src and tgt line used at most once.
    A line is marked used even when its pair is then dropped for a margin <= 0."""
    used_src: set[int] = set()
    used_tgt: set[int] = set()
    kept = []
    for i, j, score in sorted(pairs, key=lambda pair: -pair[2]):
        if i in used_src or j in used_tgt:
            continue
        used_src.add(i)
        used_tgt.add(j)
        if score > 0:
            kept.append((i, j, score))
    return kept


Candidate = tuple[str, str, float]


def _merge_identical_texts(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    """The distinct texts in order of first appearance, and for each the row of the last line
    carrying it.

    REFERENCE: XTREME ``text_load_unify`` numbers a side's distinct lines by first appearance and
    ``unique_embeddings`` then takes, for each, the vector of the last line with that text. One
    vector per text keeps a repeated sentence from filling several of another sentence's k
    nearest-neighbour slots (and so from shifting every margin around it).
    """
    last_row: dict[str, int] = {}
    for row, text in enumerate(texts):
        last_row[text] = row  # a re-assigned key keeps its first place in the dict's order
    return list(last_row), list(last_row.values())


def _ids_of_single_line_texts(texts: Sequence[str], ids: Sequence[str]) -> dict[str, str]:
    """Whitespace-stripped text -> line id, for the texts found on exactly one line.

    REFERENCE: XTREME ``read_sent2id`` maps stripped texts to ids and deletes every text it saw
    more than once, so ``read_candidate2score`` drops each mined pair that involves a repeated
    text: which of its lines the pair means cannot be told, and no line id is guessed.
    """
    stripped = [text.strip() for text in texts]
    lines_per_text = Counter(stripped)
    return {text: line_id for text, line_id in zip(stripped, ids) if lines_per_text[text] == 1}


def mine_text_pairs(src: np.ndarray, tgt: np.ndarray, src_texts: Sequence[str],
                    tgt_texts: Sequence[str], src_ids: Sequence[str], tgt_ids: Sequence[str],
                    k: int = 4, retrieval: str = "max", device: str = "cpu") -> list[Candidate]:
    """BUCC candidates (src_id, tgt_id, margin) from one vector per line, as XTREME mines and
    reads them back: on each side identical texts are merged into one vector, pairs of distinct
    texts are mined (``mine_pairs``), and each mined text is mapped back to its line's id.

    REFERENCE: XTREME ``mine_bitext`` (after ``text_load_unify`` + ``unique_embeddings``) writes
    text pairs, which ``read_candidate2score`` turns into id pairs with ``read_sent2id``, keeping
    a pair's best score. A text on more than one line (after stripping whitespace) has no id
    there, so pairs involving it are dropped; its gold pairs still count as gold (``bucc_eval``
    reads the gold file as it is). With no repeated text on either side the result equals
    ``mine_pairs`` on the lines themselves.
    """
    if len(src_texts) != len(src_ids) or len(tgt_texts) != len(tgt_ids):
        raise ValueError("mine_text_pairs: one text per line id is required")
    src_distinct, src_rows = _merge_identical_texts(src_texts)
    tgt_distinct, tgt_rows = _merge_identical_texts(tgt_texts)
    # Skip the copy (1-2 GB on a BUCC test split) when a side has no repeated text.
    src = src if len(src_rows) == len(src_texts) else np.asarray(src)[src_rows]
    tgt = tgt if len(tgt_rows) == len(tgt_texts) else np.asarray(tgt)[tgt_rows]
    mined = mine_pairs(src, tgt, range(len(src_distinct)), range(len(tgt_distinct)),
                       k=k, retrieval=retrieval, device=device)
    src_id_of = _ids_of_single_line_texts(src_texts, src_ids)
    tgt_id_of = _ids_of_single_line_texts(tgt_texts, tgt_ids)
    readable = []
    for i, j, score in mined:
        src_text, tgt_text = src_distinct[i].strip(), tgt_distinct[j].strip()
        if src_text in src_id_of and tgt_text in tgt_id_of:
            readable.append((src_id_of[src_text], tgt_id_of[tgt_text], score))
    return [(s, t, score) for (s, t), score in _best_score_per_pair(readable).items()]


def _best_score_per_pair(candidates: Iterable[Candidate]) -> dict[tuple[str, str], float]:
    """XTREME keeps one score per (src_id, tgt_id): the highest (``read_candidate2score``)."""
    best: dict[tuple[str, str], float] = {}
    for src_id, tgt_id, score in candidates:
        pair = (src_id, tgt_id)
        best[pair] = max(score, best.get(pair, score))
    return best


def best_threshold(candidates: Iterable[Candidate],
                   gold: set[tuple[str, str]]) -> float:
    """Margin threshold that maximises F1 on a dev split (XTREME's ``bucc_optimize``).

    Candidates are walked by decreasing score; whenever the F1 of "everything so far"
    beats the best seen (strictly), the threshold becomes the midpoint between this
    score and the next one. If that happens at the last candidate (the official code
    then crashes with an IndexError) the threshold is that candidate's own score. With
    no correct candidate at all the threshold stays 0.
    """
    ranked = sorted(_best_score_per_pair(candidates).items(), key=lambda item: -item[1])
    threshold, best_f1, n_correct = 0.0, 0.0, 0
    for position, (pair, score) in enumerate(ranked):
        n_correct += pair in gold
        f1 = _precision_recall_f1(n_correct, position + 1, len(gold))["f1"]
        if n_correct and f1 > best_f1:
            best_f1 = f1
            is_last = position + 1 == len(ranked)
            threshold = score if is_last else (score + ranked[position + 1][1]) / 2
    return threshold


def mining_scores(candidates: Iterable[Candidate], gold: set[tuple[str, str]],
                  threshold: float) -> dict:
    """P/R/F1 of the candidates scoring >= threshold against the gold pairs
    (XTREME's ``bucc_extract`` + ``bucc_eval``); all 0 when nothing is correct."""
    scored = _best_score_per_pair(candidates)
    extracted = {pair for pair, score in scored.items() if score >= threshold}
    n_correct = len(extracted & set(gold))
    if n_correct == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    return _precision_recall_f1(n_correct, len(extracted), len(gold))


# --------------------------------------------------------------------------------------
# Ranked retrieval: LAReQA / Mewsli-X
# --------------------------------------------------------------------------------------


def _average_precision_at_k(ranking: list[str], relevant: set[str], k: int | None) -> float:
    """AP@k as XTREME-R defines it (google-research/xtreme third_party/utils_lareqa.py,
    average_precision_at_k): the precision at each *first* occurrence of a relevant item
    within the top k, summed, divided by min(|relevant|, k) -- not by the number of relevant
    items retrieved, so a relevant item ranked below k costs as much as a wrong one.
    k=None (or 0) ranks everything and divides by |relevant|. An empty relevant set scores 0
    (the official code divides by zero)."""
    if not relevant:
        return 0.0
    top = ranking[:k] if k else ranking
    hits, total, seen = 0, 0.0, set()
    for rank, item in enumerate(top, start=1):
        if item in relevant and item not in seen:
            hits += 1
            total += hits / rank
        seen.add(item)
    return total / (min(len(relevant), k) if k else len(relevant))


def mean_average_precision_at_k(rankings: list[list[str]], relevant: list[set[str]],
                                k: int | None = 20) -> float:
    """Mean AP@k over queries, 0-100 (LAReQA mAP@20: evaluate_retrieval.py ranks every
    candidate of every language for each question). With one relevant item per query, as in
    Mewsli-X, AP@k is the reciprocal rank within the top k, so this equals the MRR@20 that
    XTREME-R's third_party/utils_mewslix.py (evaluate) reports as "MRR/MAP@20"."""
    _require_same_length(rankings, relevant, "mean_average_precision_at_k")
    per_query = [_average_precision_at_k(list(r), set(g), k) for r, g in zip(rankings, relevant)]
    return 100.0 * float(np.mean(per_query))


def rank_by_cosine(queries: np.ndarray, candidates: np.ndarray, k: int, *, device: str = "cpu",
                   candidates_normalised: bool = False) -> np.ndarray:
    """Indices of each query's k most cosine-similar candidates, best first (k is capped at
    the number of candidates). Searched in blocks, so a Mewsli-X pool of ~1M entities never
    needs the full query x candidate matrix; `candidates_normalised` skips re-normalising a pool
    that is ranked against again and again (one 4 GB copy per language for Mewsli-X)."""
    if candidates.shape[0] == 0:
        raise ValueError("rank_by_cosine: the candidate pool is empty")
    queries = _unit_rows(queries)
    candidates = _as_float(candidates) if candidates_normalised else _unit_rows(candidates)
    if queries.dtype != candidates.dtype:  # the block product needs one dtype
        queries, candidates = queries.astype(np.float64), candidates.astype(np.float64)
    _, indices = _top_k_by_cosine(queries, candidates, min(k, candidates.shape[0]), device=device)
    return indices


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero), float32 kept."""
    return _unit_rows(x)
