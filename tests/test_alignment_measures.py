"""The alignment measures on hand-made and random vectors: linear CKA against the kernel (HSIC)
form of its definition and its invariances, retrieval and margin on constructed cases, and
centring that removes a per-language offset."""

from __future__ import annotations

import numpy as np
import pytest

from xstilts import metrics
from xstilts.alignment.measures import (centred, cosine_margin, layer_measures, linear_cka, retrieval_accuracy,
                                       retrieval_hits)


def hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """CKA in its kernel form: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), K = XX', L = YY', H the centring matrix."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = x @ x.T, y @ y.T
    hsic = lambda a, b: np.trace(a @ h @ b @ h)  # noqa: E731
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def test_linear_cka_equals_its_kernel_form_on_random_matrices():
    rng = np.random.default_rng(0)
    for n, d1, d2 in ((20, 8, 6), (50, 16, 32)):
        x, y = rng.normal(size=(n, d1)), rng.normal(size=(n, d2)) + 0.5 * rng.normal(size=(n, 1))
        assert linear_cka(x, y) == pytest.approx(hsic_cka(x, y), rel=1e-10)


def test_linear_cka_is_one_for_identical_inputs_and_invariant_to_rotation_scale_and_offset():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 10)), rng.normal(size=(30, 10))
    rotation, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 3.7 * y @ rotation + 5.0) == pytest.approx(linear_cka(x, y), rel=1e-10)
    assert linear_cka(x, y) < 0.9  # unrelated matrices are not aligned


def test_retrieval_counts_the_rows_whose_nearest_partner_is_their_translation():
    english = np.eye(4)
    other = english[[1, 0, 2, 3]]  # the first two sentences swapped
    assert retrieval_accuracy(english, other) == 50.0 and retrieval_accuracy(other, english) == 50.0
    assert retrieval_accuracy(english, english + 0.1) == 100.0
    assert retrieval_accuracy(english, other) == metrics.tatoeba_accuracy(english, other)  # Tatoeba's own search
    assert retrieval_hits(english, other).tolist() == [False, False, True, True]  # which sentences, per sentence


def test_cosine_margin_is_true_pairs_minus_the_nearest_wrong_ones():
    english = np.eye(3)
    assert cosine_margin(english, english, k=2) == pytest.approx(1.0)  # true pairs 1, wrong ones 0
    # Every pair at cosine 0.6 with each wrong partner at 0.8/0.6 or 0: worked by hand below.
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    b = np.array([[0.6, 0.8], [0.8, 0.6]])
    # true cosines 0.6 and 0.6; a0's wrong partner b1: 0.8; a1's: b0 0.8; b0's wrong a1: 0.8; b1's: a0 0.8.
    assert cosine_margin(a, b, k=1) == pytest.approx(0.6 - 0.8)
    with pytest.raises(ValueError, match="one shape"):
        cosine_margin(np.eye(3), np.eye(2))


def test_centring_removes_a_per_language_offset_that_hides_the_alignment():
    rng = np.random.default_rng(2)
    sentences = rng.normal(size=(12, 6))
    # The same sentences, each language shifted far along a direction of its own: every English
    # sentence then finds the one other-language sentence that leans most towards English's offset.
    english, other = sentences + 20.0 * np.eye(6)[0], sentences + 20.0 * np.eye(6)[1]
    assert retrieval_accuracy(english, other) < 50.0
    assert retrieval_accuracy(centred(english), centred(other)) == 100.0
    found = layer_measures(english, other)
    assert found["retrieval_en_to_xx"] < 50.0 and found["centred_retrieval_en_to_xx"] == 100.0
    assert found["centred_margin"] > found["margin"] and found["cka"] == pytest.approx(1.0)


def test_two_identical_languages_score_perfectly_on_every_measure():
    rng = np.random.default_rng(3)
    english = rng.normal(size=(15, 8))
    found = layer_measures(english, english.copy())
    assert found["retrieval_en_to_xx"] == found["retrieval_xx_to_en"] == 100.0
    assert found["centred_retrieval_en_to_xx"] == found["centred_retrieval_xx_to_en"] == 100.0
    assert found["cka"] == pytest.approx(1.0) and found["margin"] > 0 and found["centred_margin"] > 0
