"""BUCC mining on a corpus that repeats sentences, worked out by hand.

XTREME (third_party/utils_retrieve.py) mines one vector per distinct text on each side
(text_load_unify + unique_embeddings), then reads the mined text pairs back into id pairs with
read_sent2id, which gives a text found on several lines no id at all, so read_candidate2score
drops every pair that involves it.

The corpus (our mining schema: a gold pair is one row whose two sides share the id):

    id  src                  tgt
    a   "Der Hund schläft."  "The dog sleeps."    gold
    b   "Danke."             "Thanks."            gold
    c   "Danke."             -                    same src text as b, another id
    d   "Es regnet."         -
    t   -                    "Thanks."            same tgt text as b, another id
    e   -                    "It snows."

Vectors (2-d; translations and the two "Danke." / "Thanks." lines share a vector):
    dog = (1, 0)   thanks = (.6, .8)   rain/snow = (0, 1)
    cosines, src dog/thanks/rain x tgt dog/thanks/snow (the same on both sides):
        dog    [1,  .6,  0 ]
        thanks [.6, 1,   .8]
        rain   [0,  .8,  1 ]
Gold: {a-a, b-b}.
"""

import numpy as np
import pytest

from xstilts import metrics as m
from xstilts.tasks.retrieval import Retrieval

approx = pytest.approx

DOG, THANKS, RAIN = (1.0, 0.0), (0.6, 0.8), (0.0, 1.0)
EXAMPLES = [
    {"id": "a", "src": "Der Hund schläft.", "tgt": "The dog sleeps."},
    {"id": "b", "src": "Danke.", "tgt": "Thanks."},
    {"id": "c", "src": "Danke.", "tgt": None},
    {"id": "d", "src": "Es regnet.", "tgt": None},
    {"id": "t", "src": None, "tgt": "Thanks."},
    {"id": "e", "src": None, "tgt": "It snows."},
]
VECTOR = {"Der Hund schläft.": DOG, "The dog sleeps.": DOG, "Danke.": THANKS, "Thanks.": THANKS,
          "Es regnet.": RAIN, "It snows.": RAIN}
SRC_LINES = [ex for ex in EXAMPLES if ex["src"] is not None]  # a b c d
TGT_LINES = [ex for ex in EXAMPLES if ex["tgt"] is not None]  # a b t e
SRC = np.array([VECTOR[ex["src"]] for ex in SRC_LINES])
TGT = np.array([VECTOR[ex["tgt"]] for ex in TGT_LINES])
SRC_IDS, TGT_IDS = [ex["id"] for ex in SRC_LINES], [ex["id"] for ex in TGT_LINES]
SRC_TEXTS, TGT_TEXTS = [ex["src"] for ex in SRC_LINES], [ex["tgt"] for ex in TGT_LINES]
GOLD = Retrieval.gold_pairs(EXAMPLES)


def test_gold_pairs_of_the_corpus():
    assert GOLD == {("a", "a"), ("b", "b")}


def test_repeated_texts_are_mined_once_and_dropped_as_xtreme_does():
    # XTREME: 3 distinct texts a side, k = min(4, 3) = 3, so each mean is over all 3 cosines.
    # Row sums S: dog 1.6, thanks 2.4, rain/snow 1.8 (both sides), and
    # margin = cos / ((S_x/3 + S_y/3) / 2) = 6 cos / (S_x + S_y):
    #   dog-dog 6/3.2 = 15/8    thanks-thanks 6/4.8 = 5/4    rain-snow 6/3.6 = 5/3
    #   dog-thanks 3.6/4 = .9   thanks-rain/snow 4.8/4.2 = 8/7   dog-rain/snow 0
    # Best of each row (both directions alike): dog-dog, thanks-thanks, rain-snow.
    # Greedy "max" walk: dog-dog 15/8, rain-snow 5/3, thanks-thanks 5/4 (all > 0).
    # Reading back: "Danke." is on lines b and c, "Thanks." on b and t -> no id -> dropped.
    candidates = m.mine_text_pairs(SRC, TGT, SRC_TEXTS, TGT_TEXTS, SRC_IDS, TGT_IDS, k=4)
    assert [(s, t) for s, t, _ in candidates] == [("a", "a"), ("d", "e")]
    assert [score for *_, score in candidates] == approx([15 / 8, 5 / 3])
    # Threshold: a-a (gold) P=1 R=1/2 F1=2/3 (best) | d-e (wrong) P=1/2 R=1/2 F1=1/2
    #   -> midpoint (15/8 + 5/3) / 2 = 85/48. At it only a-a: P=100 R=50 F1=66.67.
    assert m.best_threshold(candidates, GOLD) == approx(85 / 48)
    assert m.mining_scores(candidates, GOLD, 85 / 48) == approx(
        {"precision": 100.0, "recall": 50.0, "f1": 200 / 3})


def test_decode_and_mining_score_follow_the_same_path():
    # The project's route: featurize -> (vectors) -> decode -> mining_score, here with the
    # corpus as both dev (threshold) and test (F1): the numbers of the test above.
    task = Retrieval()
    fake_tokenizer = lambda texts, **_: {"input_ids": [[1] for _ in texts]}
    features = task.featurize(EXAMPLES, fake_tokenizer, {"max_length": 8})
    texts = [ex["src"] for ex in SRC_LINES] + [ex["tgt"] for ex in TGT_LINES]
    outputs = [np.array(VECTOR[text]) for text in texts]
    predictions = task.decode(outputs, features, EXAMPLES, {"metric": "bucc"})
    assert [(p["id"], p["prediction"]) for p in predictions] == [("a", "a"), ("d", "e")]
    result = task.mining_score(predictions, EXAMPLES, predictions, EXAMPLES)
    assert result == approx({"threshold": 85 / 48, "precision": 100.0, "recall": 50.0,
                             "f1": 200 / 3, "score": 200 / 3})


def test_mining_every_line_on_its_own_gives_another_answer():
    # The old behaviour: 4 rows a side, k = 4 = all rows. Row sums: dog 2.2, thanks 3.4,
    # rain/snow 2.6 (the repeated "Thanks." crowds two of dog's four neighbour slots), so
    # margin = 8 cos / (S_x + S_y): dog-dog 8/4.4 = 20/11 (not 15/8), rain-snow 8/5.2 = 20/13,
    # thanks-thanks 8/6.8 = 20/17 (b-b, b-t, c-b tie; the walk keeps b-b, lowest rows first).
    candidates = m.mine_pairs(SRC, TGT, SRC_IDS, TGT_IDS, k=4)
    assert [(s, t) for s, t, _ in candidates] == [("a", "a"), ("d", "e"), ("b", "b")]
    assert [score for *_, score in candidates] == approx([20 / 11, 20 / 13, 20 / 17])
    # F1 by depth: 2/3, 1/2, then 2 of 3 right with R=1 -> F1=.8 at the last candidate, whose
    # own score becomes the threshold: P=66.67 R=100 F1=80, not XTREME's 66.67.
    assert m.best_threshold(candidates, GOLD) == approx(20 / 17)
    assert m.mining_scores(candidates, GOLD, 20 / 17) == approx(
        {"precision": 200 / 3, "recall": 100.0, "f1": 80.0})


def test_without_repeats_text_mining_equals_line_mining():
    rng = np.random.default_rng(1)
    src, tgt = rng.normal(size=(12, 4)), rng.normal(size=(9, 4))
    src_ids, tgt_ids = [f"s{i}" for i in range(12)], [f"t{j}" for j in range(9)]
    for retrieval in ("max", "fwd", "bwd", "intersect"):
        assert m.mine_text_pairs(src, tgt, src_ids, tgt_ids, src_ids, tgt_ids, retrieval=retrieval) == \
            m.mine_pairs(src, tgt, src_ids, tgt_ids, retrieval=retrieval)


def test_one_vector_per_text_is_the_last_lines_and_ids_need_a_single_line():
    # unique_embeddings keeps the last line's vector; order is that of first appearance.
    assert m._merge_identical_texts(["x", "y", "x", "z", "y"]) == (["x", "y", "z"], [2, 4, 3])
    # read_sent2id compares stripped texts: "x" and "x " are one text on two lines -> no id.
    assert m._ids_of_single_line_texts(["x", "y", "x "], ["1", "2", "3"]) == {"y": "2"}
