"""Recipes compared on their drop under a perturbation (xstilts.robustness.drops), on hand-made
runs whose answer is known."""

import numpy as np
import pytest

from xstilts.robustness.drops import compare_drops, drop


def run(n, wrong_clean, newly_wrong, *, offset=0):
    """n examples; `wrong_clean` wrong on clean input; `newly_wrong` more wrong once perturbed."""
    clean = np.ones(n)
    clean[offset:offset + wrong_clean] = 0
    perturbed = clean.copy()
    perturbed[offset + wrong_clean:offset + wrong_clean + newly_wrong] = 0
    return clean, perturbed


def test_drop_is_clean_minus_perturbed_in_points():
    assert drop(run(200, 20, 10)) == pytest.approx(5.0)


def test_identical_sides_differ_by_nothing_and_the_interval_holds_zero():
    runs = [run(500, 50, 25, offset=k) for k in range(3)]
    result = compare_drops(runs, runs)
    assert result.difference == 0 and result.low <= 0 <= result.high and not result.excludes_zero


def test_pairing_keeps_a_small_sure_drop_sure():
    # 10 of 1000 examples flip under the perturbation for the recipe, none for the baseline: a
    # 1-point difference whose paired standard error is about 0.3; resampling clean and perturbed
    # scores apart would put about 2.7 points of noise on it and hide it.
    recipe = [run(1000, 300, 10, offset=k) for k in range(3)]
    baseline = [run(1000, 300, 0, offset=k) for k in range(3)]
    result = compare_drops(recipe, baseline)
    assert result.difference == pytest.approx(1.0)
    assert result.excludes_zero and result.high - result.low < 1.5


def test_seeds_that_disagree_widen_the_interval():
    baseline = [run(1000, 100, 30, offset=k) for k in range(4)]
    steady = [run(1000, 100, 80, offset=k) for k in range(4)]
    scattered = [run(1000, 100, flips, offset=k) for k, flips in enumerate([0, 160, 20, 140])]
    narrow, wide = compare_drops(steady, baseline), compare_drops(scattered, baseline)
    assert narrow.difference == pytest.approx(wide.difference) == pytest.approx(5.0)
    assert narrow.excludes_zero and not wide.excludes_zero
    assert (wide.high - wide.low) > 3 * (narrow.high - narrow.low)


def test_one_seed_takes_the_measured_seed_spread_and_refuses_without_it():
    recipe, baseline = [run(1000, 100, 60)], [run(1000, 100, 20)]
    with pytest.raises(ValueError, match="seed spread"):
        compare_drops(recipe, baseline)
    calm = compare_drops(recipe, baseline, seed_spread=(0.0, 8))
    noisy = compare_drops(recipe, baseline, seed_spread=(3.0, 8))
    assert calm.difference == noisy.difference == pytest.approx(4.0)
    assert calm.excludes_zero and not noisy.excludes_zero
    # with a large seed spread the half-width tends to t(8) * std * sqrt(2)
    huge = compare_drops(recipe, baseline, seed_spread=(50.0, 8))
    assert (huge.high - huge.low) / 2 == pytest.approx(2.306 * 50 * 2**0.5, rel=0.01)


def test_same_seed_same_interval_and_mismatched_runs_refused():
    recipe, baseline = [run(300, 30, 20, offset=k) for k in range(2)], [run(300, 30, 5, offset=k) for k in range(2)]
    assert compare_drops(recipe, baseline, seed=3) == compare_drops(recipe, baseline, seed=3)
    with pytest.raises(ValueError, match="same examples"):
        compare_drops([(np.ones(5), np.ones(4))] * 2, baseline)


def test_key_metrics_count_drops_and_changed_predictions():
    from xstilts.robustness.drops import key_metrics

    metrics = key_metrics(80.0, 60.0, [0, 1, 2, 1, 0], [0, 2, 2, 0, 0])
    assert metrics == {"score": 60.0, "drop": 20.0, "relative_drop": 25.0, "changed": 40.0}
    with pytest.raises(ValueError, match="same examples: got 2 and 3"):
        key_metrics(80.0, 60.0, [0, 1], [0, 1, 2])


def test_robustness_gap_is_a_language_s_drop_beyond_english():
    from xstilts.robustness.drops import robustness_gaps

    assert robustness_gaps({"en": 2.0, "de": 5.0, "zh": 1.5}) == {"de": 3.0, "zh": -0.5}
    with pytest.raises(ValueError, match="measured against 'en'"):
        robustness_gaps({"de": 5.0})


def test_the_interval_is_a_fresh_generators_whatever_was_compared_before():
    """The draws are cached across comparisons of the same sizes: each comparison must still get
    what a generator seeded afresh draws (here recomputed by hand), after other sizes and seeds."""
    recipe, baseline = [run(300, 40, 25)], [run(300, 40, 10)]
    compare_drops([run(120, 10, 5)], [run(120, 10, 1)], seed_spread=(1.0, 4), seed=7)
    compare_drops(recipe, baseline, seed_spread=(1.0, 4), seed=1)
    result = compare_drops(recipe, baseline, seed_spread=(1.0, 4), seed=0, n_boot=500)
    rng = np.random.default_rng(0)
    means = [(clean - perturbed)[rng.integers(0, 300, size=(500, 300))].mean(axis=1) for clean, perturbed in
             [recipe[0], baseline[0]]]
    boot = 100.0 * (means[0] - means[1])
    half = 2.7764451051977987 * np.sqrt(np.var(boot, ddof=1) + 1.0 * 2)  # t(4) at 95%
    assert result.difference == pytest.approx(5.0)
    assert (result.low, result.high) == pytest.approx((5.0 - half, 5.0 + half), rel=1e-12)
