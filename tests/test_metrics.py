"""Hand-worked cases pinning every metric in xstilts.metrics (all scores 0-100)."""

import numpy as np
import pytest

from xstilts import metrics as m

approx = pytest.approx


# ---------------------------------------------------------------- classification


def test_accuracy_counts_equal_positions():
    # 1=1, 2=2, 0!=3, 4=4 -> 3/4
    assert m.accuracy([1, 2, 0, 4], [1, 2, 3, 4]) == approx(75.0)


def test_accuracy_rejects_mismatched_or_empty_inputs():
    with pytest.raises(ValueError):
        m.accuracy([1, 2], [1])
    with pytest.raises(ValueError):
        m.accuracy([], [])


# ---------------------------------------------------------------- NER (seqeval)


def test_seqeval_f1_partially_wrong_entity():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "I-ORG"]]
    # gold entities PER(0-1) LOC(3) ORG; predicted PER(0) LOC(3) ORG.
    # PER's span is wrong -> 2 correct of 3 predicted, 2 of 3 gold -> P=R=F1=2/3
    scores = m.seqeval_f1(gold, pred)
    assert scores["precision"] == approx(200 / 3)
    assert scores["recall"] == approx(200 / 3)
    assert scores["f1"] == approx(200 / 3)


def test_seqeval_f1_extra_entity_lowers_precision_only():
    gold = [["B-PER", "O", "O"]]
    pred = [["B-PER", "O", "B-LOC"]]
    # 1 correct of 2 predicted, 1 of 1 gold -> P=1/2 R=1 F1=2*0.5*1/1.5=2/3
    scores = m.seqeval_f1(gold, pred)
    assert scores["precision"] == approx(50.0)
    assert scores["recall"] == approx(100.0)
    assert scores["f1"] == approx(200 / 3)


def test_legacy_chunker_agrees_with_installed_seqeval_on_iob2():
    # For well-formed IOB2 NER tags seqeval 0.0.12 and 1.x must find the same entities.
    from seqeval.metrics.sequence_labeling import get_entities

    sentences = [["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "B-LOC"], ["O", "B-ORG"]]
    assert m._legacy_seqeval_chunks(sentences) == set(get_entities(sentences))


# ---------------------------------------------------------------- POS (XTREME's seqeval F1)


def test_pos_f1_scores_runs_of_equal_tags_not_tokens():
    gold = [["NOUN", "NOUN", "VERB", "SCONJ", "SCONJ"]]
    pred = [["NOUN", "ADJ", "VERB", "SCONJ", "SCONJ"]]
    # seqeval units: gold NOUN(0-1) VERB(2) SCONJ(3) SCONJ(4) = 4 (the "S" of SCONJ makes
    # each a singleton); pred NOUN(0) ADJ(1) VERB(2) SCONJ(3) SCONJ(4) = 5.
    # correct: VERB, SCONJ, SCONJ = 3 -> P=3/5 R=3/4 F1=2*.6*.75/1.35=2/3
    scores = m.tag_scores(gold, pred)
    assert scores["precision"] == approx(60.0)
    assert scores["recall"] == approx(75.0)
    assert scores["f1"] == approx(200 / 3)
    # tokens: 4 of 5 right
    assert scores["accuracy"] == approx(80.0)


def test_pos_units_do_not_cross_sentences():
    gold = [["NOUN"], ["NOUN"]]
    pred = [["NOUN"], ["NOUN"]]
    # sentences are separated, so two NOUN units, both right -> F1=1
    assert m.tag_scores(gold, pred)["f1"] == approx(100.0)


def test_pos_cconj_and_sconj_are_different_types():
    # seqeval 0.0.12 (jiant's pin) keeps the whole tag as the type, so SCONJ != CCONJ
    # -> 0 correct -> F1=0 (seqeval >= 0.0.16 would call both "CONJ" and score 100).
    scores = m.tag_scores([["SCONJ"]], [["CCONJ"]])
    assert scores["f1"] == 0.0
    assert scores["accuracy"] == 0.0


def test_tag_scores_rejects_ragged_sentences():
    with pytest.raises(ValueError):
        m.tag_scores([["NOUN", "VERB"]], [["NOUN"]])


# ---------------------------------------------------------------- SQuAD v1.1


def test_normalize_squad_articles_punctuation_whitespace():
    # lower -> "the  cat, sat!" -> no punct -> "the  cat sat" -> article out -> "cat sat"
    assert m.normalize_squad("The  Cat, sat!") == "cat sat"
    # articles only as whole words: "another" and "theory" survive
    assert m.normalize_squad("An another theory") == "another theory"
    # punctuation goes first, so "the-end" becomes one word "theend" and keeps its "the"
    assert m.normalize_squad("the-end") == "theend"
    # only ASCII punctuation: guillemets stay under SQuAD rules
    assert m.normalize_squad("«Hola»") == "«hola»"


def test_squad_exact_match():
    # "the Cat." -> "cat" == "cat"
    assert m.qa_exact_match("the Cat.", ["cat"]) == 100.0
    assert m.qa_exact_match("cats", ["cat"]) == 0.0


def test_squad_f1_partial_overlap():
    # "the cat sat" -> cat,sat ; "a cat sat on" -> cat,sat,on -> P=2/2 R=2/3 F1=0.8
    assert m.qa_f1("the cat sat", ["a cat sat on"]) == approx(80.0)


def test_squad_f1_counts_repeated_tokens_once_each():
    # cat,cat,cat vs cat -> overlap min(3,1)=1 -> P=1/3 R=1 F1=2*(1/3)/(4/3)=0.5
    assert m.qa_f1("cat cat cat", ["cat"]) == approx(50.0)


def test_squad_takes_the_best_gold():
    golds = ["a dog", "the cat sat on mat"]
    # vs "dog": no overlap -> 0; vs cat,sat,on,mat: P=2/2 R=2/4 F1=2/3 -> max 2/3
    assert m.qa_f1("cat sat", golds) == approx(200 / 3)
    # EM: "dog" matches the first gold after normalisation
    assert m.qa_exact_match("The dog!", golds) == 100.0


def test_squad_empty_versus_empty():
    # both normalise to "": EM counts it (equal strings), F1 is 0 (no shared token)
    assert m.qa_exact_match("", ["the"]) == 100.0
    assert m.qa_f1("", ["the"]) == 0.0


def test_qa_scores_averages_over_gold_ids_and_zeroes_missing():
    predictions = {"q1": "cat", "q2": "dog house", "extra": "ignored"}
    golds = {"q1": ["the cat"], "q2": ["dog"], "q3": ["x"]}
    # q1: EM 100 F1 100; q2: EM 0, P=1/2 R=1 F1=2/3; q3 unanswered: 0, 0
    scores = m.qa_scores(predictions, golds)
    assert scores["exact_match"] == approx(100 / 3)  # (100+0+0)/3
    assert scores["f1"] == approx((100 + 200 / 3) / 3)  # (100+66.67+0)/3=55.56


# ---------------------------------------------------------------- MLQA


def test_mlqa_german_articles():
    # "der hund des mannes" -> der, des removed -> "hund mannes"
    assert m.normalize_mlqa("Der Hund des Mannes", "de") == "hund mannes"
    # English rules would keep "der"/"des"
    assert m.normalize_mlqa("Der Hund des Mannes", "en") == "der hund des mannes"


def test_mlqa_spanish_and_vietnamese_articles():
    assert m.normalize_mlqa("Los Angeles", "es") == "angeles"
    # cái and của are on MLQA's vi list -> "bàn tôi"
    assert m.normalize_mlqa("cái bàn của tôi", "vi") == "bàn tôi"


def test_mlqa_arabic_al_is_removed_everywhere():
    # الكتاب -> " كتاب" -> "كتاب"
    assert m.normalize_mlqa("الكتاب", "ar") == "كتاب"
    # the official regex in effect removes every ال, even inside a word: بالقلم -> "ب قلم"
    assert m.normalize_mlqa("بالقلم", "ar") == "ب قلم"
    # pred القلم -> [قلم]; gold بالقلم -> [ب, قلم] -> P=1/1 R=1/2 F1=2/3
    assert m.qa_f1("القلم", ["بالقلم"], "ar") == approx(200 / 3)


def test_mlqa_unicode_punctuation():
    # « » (Pi/Pf), ¿ and — (Po/Pd) are Unicode punctuation -> removed
    assert m.normalize_mlqa("«¿Hola—amigo?»", "es") == "holaamigo"
    # $ is ASCII punctuation (string.punctuation) -> removed; € is a symbol (Sc) -> kept
    assert m.normalize_mlqa("$5 5€", "en") == "5 5€"
    # fullwidth comma and ideographic full stop are punctuation too -> "北京大学"
    assert m.qa_exact_match("北京，大学。", ["北京大学"], "zh") == 100.0


def test_mlqa_chinese_mixed_segmentation():
    # every CJK char is a token; the Latin/digit run "2008" stays whole
    assert m.normalize_mlqa("2008年北京奥运会", "zh") == "2008 年 北 京 奥 运 会"
    # spacing differences vanish: both -> "北 京 大 学"
    assert m.qa_exact_match("北京 大学", ["北京大学"], "zh") == 100.0


def test_mlqa_chinese_partial_overlap_f1():
    # 北,京,大,学 vs 清,华,大,学 -> shared 大,学 = 2 -> P=2/4 R=2/4 F1=0.5
    assert m.qa_f1("北京大学", ["清华大学"], "zh") == approx(50.0)
    # the same strings under whitespace rules are one token each -> no overlap -> 0
    assert m.qa_f1("北京大学", ["清华大学"], "en") == 0.0


def test_mlqa_hindi_and_unknown_languages_have_no_articles():
    assert m.normalize_mlqa("The किताब", "hi") == "the किताब"
    # outside MLQA: no articles, whitespace tokens (the official script would raise)
    assert m.normalize_mlqa("Le  chat.", "fr") == "le chat"


def test_qa_scores_with_language():
    # zh: pred 北京大学 vs gold 清华大学 -> EM 0, F1 50 (see above); one question
    scores = m.qa_scores({"q": "北京大学"}, {"q": ["清华大学"]}, lang="zh")
    assert scores == {"exact_match": 0.0, "f1": approx(50.0)}


# ---------------------------------------------------------------- Tatoeba


def test_tatoeba_accuracy_uses_cosine_not_dot_product():
    src = np.array([[1, 0], [0, 1], [1, 3]], dtype=float)
    tgt = np.array([[1, 0.1], [1, 2], [3, 3]], dtype=float)
    # row 0 (1,0):   cos to tgt = .995, .447, .707 -> 0 right (dot would pick row 2)
    # row 1 (0,1):   cos = .0995, .894, .707      -> 1 right
    # row 2 (1,3):   cos = .409, .990, .894       -> 1 wrong
    # -> 2/3
    assert m.tatoeba_accuracy(src, tgt) == approx(200 / 3)


# ---------------------------------------------------------------- BUCC margin mining

# unit vectors with easy cosines: src x0=(1,0) x1=(0,1); tgt y0=(.6,.8) y1=(.8,.6) y2=(1,0)
# cos = [[.6, .8, 1.0],
#        [.8, .6, 0.0]]
MARGIN_SRC = np.array([[2.0, 0.0], [0.0, 3.0]])  # lengths must not matter
MARGIN_TGT = np.array([[0.6, 0.8], [0.8, 0.6], [5.0, 0.0]])


def test_margin_scores_k1():
    # k=1: mean NN cos of x0=1.0, x1=.8; of y0=max(.6,.8)=.8, y1=.8, y2=1.0
    # margin = cos / ((m_x + m_y)/2)
    expected = np.array([
        [0.6 / 0.9, 0.8 / 0.9, 1.0 / 1.0],  # x0: denominators (1+.8)/2, (1+.8)/2, (1+1)/2
        [0.8 / 0.8, 0.6 / 0.8, 0.0 / 0.9],  # x1: (.8+.8)/2, (.8+.8)/2, (.8+1)/2
    ])
    assert m.margin_scores(MARGIN_SRC, MARGIN_TGT, k=1) == approx(expected)


def test_margin_scores_k2_and_k_capped_at_row_count():
    # k=2: m_x0=(1+.8)/2=.9, m_x1=(.8+.6)/2=.7; over the 2 src rows m_y0=.7, m_y1=.7, m_y2=.5
    margin = m.margin_scores(MARGIN_SRC, MARGIN_TGT, k=2)
    assert margin[0, 2] == approx(1.0 / 0.7)  # (.9+.5)/2=.7
    assert margin[1, 0] == approx(0.8 / 0.7)  # (.7+.7)/2=.7
    assert margin[0, 1] == approx(0.8 / 0.8)  # (.9+.7)/2=.8
    # k=4 > rows: XTREME caps k at the candidate count, so k=4 here equals k=3 for
    # the src side and k=2 for the tgt side; x0: m_x0=(1+.8+.6)/3=.8, y2: m_y2=.5
    assert m.margin_scores(MARGIN_SRC, MARGIN_TGT, k=4)[0, 2] == approx(1.0 / 0.65)


# src x0=(1,0) x1=(.8,.6); tgt y0=(1,0) y1=(0,1); cos = [[1, 0], [.8, .6]]
# k=1: m_x0=1, m_x1=.8, m_y0=1, m_y1=.6
# margins: x0y0=1/1=1; x1y0=.8/.9=.889; x1y1=.6/.7=.857
MINE_SRC = np.array([[1.0, 0.0], [0.8, 0.6]])
MINE_TGT = np.array([[1.0, 0.0], [0.0, 1.0]])


def test_mine_pairs_forward_takes_each_source_best():
    # x0's and x1's nearest target is y0 -> both map to t0
    pairs = m.mine_pairs(MINE_SRC, MINE_TGT, ["s0", "s1"], ["t0", "t1"], k=1, retrieval="fwd")
    assert [(a, b) for a, b, _ in pairs] == [("s0", "t0"), ("s1", "t0")]
    assert [s for *_, s in pairs] == approx([1.0, 0.8 / 0.9])


def test_mine_pairs_max_is_greedy_one_to_one():
    # pool: fwd (x0,y0,1) (x1,y0,.889); bwd y0->x0 (1), y1->x1 (.857)
    # by score: take (x0,y0); skip its bwd copy; skip (x1,y0) (y0 used); take (x1,y1)
    pairs = m.mine_pairs(MINE_SRC, MINE_TGT, ["s0", "s1"], ["t0", "t1"], k=1)
    assert [(a, b) for a, b, _ in pairs] == [("s0", "t0"), ("s1", "t1")]
    assert [s for *_, s in pairs] == approx([1.0, 0.6 / 0.7])


def test_mine_pairs_scores_match_margin_matrix_and_blocking():
    rng = np.random.default_rng(0)
    src, tgt = rng.normal(size=(30, 5)), rng.normal(size=(25, 5))
    ids_s, ids_t = [str(i) for i in range(30)], [str(j) for j in range(25)]
    full = m.margin_scores(src, tgt, k=4)
    for a, b, score in m.mine_pairs(src, tgt, ids_s, ids_t, k=4, retrieval="fwd"):
        assert full[int(a), int(b)] == approx(score)
    # the blocked k-NN search gives the same neighbours as one big block
    unit_s, unit_t = m._unit_rows(src), m._unit_rows(tgt)
    one_block = m._top_k_by_cosine(unit_s, unit_t, 4)
    tiny_blocks = m._top_k_by_cosine(unit_s, unit_t, 4, max_block_cells=7 * 25)
    assert np.array_equal(one_block[1], tiny_blocks[1])


# candidates by score and whether gold (gold has 4 pairs, e-E never proposed):
#   a-A .9 yes | b-B .8 yes | c-X .7 no | d-D .6 yes | f-F .5 no
CANDIDATES = [("a", "A", 0.9), ("b", "B", 0.8), ("c", "X", 0.7), ("d", "D", 0.6), ("f", "F", 0.5)]
GOLD = {("a", "A"), ("b", "B"), ("d", "D"), ("e", "E")}


def test_best_threshold_maximises_dev_f1():
    # top1: P=1 R=1/4 F1=.4 | top2: P=1 R=1/2 F1=.667 | top3: P=2/3 R=1/2 F1=.571
    # top4: P=3/4 R=3/4 F1=.75 (best) | top5: P=3/5 R=3/4 F1=.667
    # -> midpoint of the 4th and 5th scores: (.6+.5)/2 = .55
    assert m.best_threshold(CANDIDATES, GOLD) == approx(0.55)


def test_mining_scores_at_a_threshold():
    # >= .55 keeps a,b,c,d: 3 correct -> P=3/4 R=3/4 F1=.75
    assert m.mining_scores(CANDIDATES, GOLD, 0.55) == approx(
        {"f1": 75.0, "precision": 75.0, "recall": 75.0})
    # a dev threshold applied to "test": >= .75 keeps a,b: P=2/2 R=2/4 F1=2/3
    assert m.mining_scores(CANDIDATES, GOLD, 0.75) == approx(
        {"f1": 200 / 3, "precision": 100.0, "recall": 50.0})


def test_best_threshold_edge_cases():
    # best F1 at the last candidate: its own score (the official code raises IndexError)
    assert m.best_threshold([("a", "A", 0.9)], {("a", "A")}) == approx(0.9)
    # nothing correct: threshold stays 0, and the scores are all 0
    assert m.best_threshold([("a", "B", 0.9)], {("a", "A")}) == 0.0
    assert m.mining_scores([("a", "B", 0.9)], {("a", "A")}, 0.0) == {
        "f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_duplicate_candidate_pairs_keep_their_best_score():
    # a-A proposed at .2 and .9 -> counted once, at .9 -> 1 extracted, 1 correct
    dupes = [("a", "A", 0.2), ("a", "A", 0.9)]
    assert m.mining_scores(dupes, {("a", "A")}, 0.5)["precision"] == approx(100.0)


# ---------------------------------------------------------------- mAP@k (LAReQA, Mewsli-X)


def test_map_at_k_small_case():
    rankings = [["a", "b", "c", "d"], ["x", "y", "z"]]
    relevant = [{"b", "d"}, {"z", "w", "v"}]
    # q1 top3 a,b,c: hit at rank 2 -> 1/2; divide by min(2,3)=2 -> .25 (d is rank 4 > k)
    # q2 top3 x,y,z: hit at rank 3 -> 1/3; divide by min(3,3)=3 -> 1/9
    # mean = (.25 + .1111)/2 = .180556
    assert m.mean_average_precision_at_k(rankings, relevant, k=3) == approx(100 * (0.25 + 1 / 9) / 2)


def test_map_at_k_ignores_repeated_items_and_equals_mrr_for_one_gold():
    # b(rank1, hit 1 -> 1/1), b again (repeat, skipped), d(rank3, hit 2 -> 2/3)
    # -> (1 + 2/3) / min(2, 20) = 5/6
    assert m.mean_average_precision_at_k([["b", "b", "d"]], [{"b", "d"}]) == approx(500 / 6)
    # Mewsli-X: one gold entity at rank 2 -> AP = MRR = 1/2
    assert m.mean_average_precision_at_k([["e1", "e2"]], [{"e2"}]) == approx(50.0)
