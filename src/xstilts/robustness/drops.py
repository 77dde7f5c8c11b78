"""How much more (or less) a recipe loses under a perturbation than `none`, with an interval that
holds both sources of noise: which examples the test set happens to hold, and which seed trained
the model.

A seed's run gives, for the same examples clean and perturbed, each example's score (1/0 for
accuracy, its F1 for QA, ...). Its drop is the clean score minus the perturbed one, in points. A
recipe's drop is the mean over its seeds, and the comparison is the recipe's drop minus that of
the baseline. Clean and perturbed scores of one seed are paired example by example: the bootstrap
resamples example indices, the same ones on both sides, so the many examples a perturbation leaves
alone add no noise.

- Two or more seeds on both sides: a two-level bootstrap, seeds resampled with replacement and,
  within each drawn seed, its examples; the interval is the percentile interval.
- One seed on either side: the example bootstrap's standard error combined with the seed spread
  measured once with more seeds (`report.seed_spread`), t-quantile at its degrees of freedom, as
  the main table does for single-seed changes. Without a seed spread there is no interval, and
  that is an error, not a silent example-only interval.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..stats import CONFIDENCE, _t

Run = tuple[np.ndarray, np.ndarray]  # one seed: per-example scores (0-1) clean, perturbed; same examples


@dataclass(frozen=True)
class DropComparison:
    difference: float  # recipe's mean drop minus the baseline's, points
    low: float
    high: float
    recipe_drop: float
    baseline_drop: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def drop(run: Run) -> float:
    clean, perturbed = _checked(run)
    return 100.0 * float(np.mean(clean - perturbed))


def compare_drops(recipe: list[Run], baseline: list[Run], *, seed_spread: tuple[float, float] | None = None,
                  n_boot: int = 2000, seed: int = 0, confidence: float = CONFIDENCE) -> DropComparison:
    if not recipe or not baseline:
        raise ValueError("each side needs at least one seed's run")
    recipe_diffs, baseline_diffs = [_diffs(run) for run in recipe], [_diffs(run) for run in baseline]
    recipe_drop = 100.0 * float(np.mean([d.mean() for d in recipe_diffs]))
    baseline_drop = 100.0 * float(np.mean([d.mean() for d in baseline_diffs]))
    difference = recipe_drop - baseline_drop
    if len(recipe) >= 2 and len(baseline) >= 2:
        requests = (*_two_level_requests(recipe_diffs, n_boot), *_two_level_requests(baseline_diffs, n_boot))
        draws = iter(_draws(seed, requests))
        boot = 100.0 * (_two_level(recipe_diffs, draws) - _two_level(baseline_diffs, draws))
        return DropComparison(difference, *_percentiles(boot, confidence), recipe_drop, baseline_drop)
    _require(seed_spread)
    draws = iter(_draws(seed, tuple((d.size, n_boot, d.size) for d in [*recipe_diffs, *baseline_diffs])))
    boot = 100.0 * (_examples_only(recipe_diffs, draws) - _examples_only(baseline_diffs, draws))
    half = _half_width_with_spread(boot, seed_spread, len(recipe), len(baseline), confidence)
    return DropComparison(difference, difference - half, difference + half, recipe_drop, baseline_drop)


def _percentiles(boot: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    low, high = (float(q) for q in np.quantile(boot, [tail, 1 - tail]))
    return low, high


def _require(seed_spread) -> None:
    if seed_spread is None:
        raise ValueError("one seed on a side: the interval needs the seed spread measured with more seeds "
                         "(report.seed_spread); an interval over examples alone would read seed noise as an effect")


def _half_width_with_spread(boot: np.ndarray, seed_spread: tuple[float, float], n_a: int, n_b: int,
                            confidence: float) -> float:
    """The example bootstrap's variance plus the seed variance of a difference of means of n_a and
    n_b seeds, at the t quantile of the spread's degrees of freedom."""
    std, df = seed_spread
    seed_var = std**2 * (1 / n_a + 1 / n_b)
    return _t(df, confidence) * math.sqrt(float(np.var(boot, ddof=1)) + seed_var)


def _checked(run: Run) -> tuple[np.ndarray, np.ndarray]:
    clean, perturbed = (np.asarray(side, dtype=float) for side in run)
    if clean.shape != perturbed.shape or clean.ndim != 1 or clean.size == 0:
        raise ValueError(f"a run pairs clean and perturbed scores of the same examples: got shapes "
                         f"{clean.shape} and {perturbed.shape}")
    return clean, perturbed


def _diffs(run: Run) -> np.ndarray:
    clean, perturbed = _checked(run)
    return clean - perturbed


@functools.lru_cache(maxsize=2)
def _draws(seed: int, requests: tuple[tuple[int, int, int], ...]) -> tuple[np.ndarray, ...]:
    """The index arrays a generator seeded with `seed` draws for `requests`, in order, each
    (high, rows, columns): integers in [0, high). Cached because a report compares hundreds of pairs
    of the same sizes with the same seed, and the draws, not the means, are most of a comparison's
    time; read-only, since every comparison of those sizes shares them."""
    rng = np.random.default_rng(seed)
    drawn = tuple(rng.integers(0, high, size=(rows, columns)) for high, rows, columns in requests)
    for array in drawn:
        array.setflags(write=False)
    return drawn


def _two_level_requests(runs: list[np.ndarray], n_boot: int) -> list[tuple[int, int, int]]:
    """What _two_level draws for `runs`: each seed's example indices, then the seeds drawn."""
    return [*((diffs.size, n_boot, diffs.size) for diffs in runs), (len(runs), n_boot, len(runs))]


def _resampled_mean(diffs: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """One mean of `diffs` per row of example indices drawn with replacement (paired: one index, both sides)."""
    return diffs[indices].mean(axis=1)


def _examples_only(runs: list[np.ndarray], draws) -> np.ndarray:
    return np.mean([_resampled_mean(diffs, next(draws)) for diffs in runs], axis=0)


def _two_level(runs: list[np.ndarray], draws) -> np.ndarray:
    per_seed = np.stack([_resampled_mean(diffs, next(draws)) for diffs in runs])  # seeds x n_boot
    drawn = next(draws)
    return per_seed[drawn, np.arange(per_seed.shape[1])[:, None]].mean(axis=1)


def key_metrics(clean_score: float, perturbed_score: float, clean_predictions, perturbed_predictions) -> dict:
    """What one evaluation key reports under a perturbation: the score, the absolute and relative
    drop against clean (points; relative to the clean score), and the share of examples whose
    prediction changed (in %), the predictions given per example in the same order."""
    clean_predictions, perturbed_predictions = list(clean_predictions), list(perturbed_predictions)
    if len(clean_predictions) != len(perturbed_predictions) or not clean_predictions:
        raise ValueError(f"clean and perturbed predictions must cover the same examples: got "
                         f"{len(clean_predictions)} and {len(perturbed_predictions)}")
    changed = sum(a != b for a, b in zip(clean_predictions, perturbed_predictions))
    absolute = clean_score - perturbed_score
    return {"score": perturbed_score, "drop": absolute,
            "relative_drop": 100.0 * absolute / clean_score if clean_score else float("nan"),
            "changed": 100.0 * changed / len(clean_predictions)}


def robustness_gaps(drops: dict[str, float], english: str = "en") -> dict[str, float]:
    """Each language's drop minus English's: how much more a perturbation costs away from the
    language the model was fine-tuned in."""
    if english not in drops:
        raise ValueError(f"the robustness gap is measured against {english!r}, which has no drop here "
                         f"(languages: {', '.join(sorted(drops))})")
    return {lang: drop - drops[english] for lang, drop in drops.items() if lang != english}


def compare_paired(setting: list[np.ndarray], against: list[np.ndarray], *, seed_spread: tuple[float, float] | None = None,
                   n_boot: int = 2000, seed: int = 0, confidence: float = CONFIDENCE) -> DropComparison:
    """Setting minus against, two settings scored on the same examples (each seed's per-example
    values, 0-1, in one order on both sides: a score, or a clean-minus-perturbed difference), in
    points, with the paired bootstrap's interval: one draw of example indices serves every seed of
    both sides, so what the test set happens to hold cancels out of the difference, and only how the
    two settings differ on each example remains. Seeds are drawn apart on each side (two or more
    each); with one seed on a side, the example bootstrap's variance is combined with the measured
    seed spread, as compare_drops does. The result's `recipe_drop` and `baseline_drop` are the two
    sides' means."""
    if not setting or not against:
        raise ValueError("each side needs at least one seed's run")
    runs = [np.asarray(run, dtype=float) for run in [*setting, *against]]
    if len({run.shape for run in runs}) != 1 or runs[0].ndim != 1 or runs[0].size == 0:
        raise ValueError(f"a paired comparison needs every seed of both sides on the same examples: got shapes "
                         f"{sorted({run.shape for run in runs})}")
    ours, theirs = runs[:len(setting)], runs[len(setting):]
    mean_ours, mean_theirs = (100.0 * float(np.mean([run.mean() for run in side])) for side in (ours, theirs))
    difference = mean_ours - mean_theirs
    indices = _draws(seed, ((runs[0].size, n_boot, runs[0].size),))[0]
    per_seed = [_resampled_mean(run, indices) for run in runs]  # one shared draw of examples
    if len(ours) >= 2 and len(theirs) >= 2:
        rng = np.random.default_rng(seed + 1)
        boot = 100.0 * (_seeds_drawn(np.stack(per_seed[:len(ours)]), rng)
                        - _seeds_drawn(np.stack(per_seed[len(ours):]), rng))
        return DropComparison(difference, *_percentiles(boot, confidence), mean_ours, mean_theirs)
    _require(seed_spread)
    boot = 100.0 * (np.mean(per_seed[:len(ours)], axis=0) - np.mean(per_seed[len(ours):], axis=0))
    half = _half_width_with_spread(boot, seed_spread, len(ours), len(theirs), confidence)
    return DropComparison(difference, difference - half, difference + half, mean_ours, mean_theirs)


def _seeds_drawn(per_seed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per bootstrap row, the mean over seeds drawn with replacement (per_seed: seeds x rows)."""
    count, rows = per_seed.shape
    drawn = rng.integers(0, count, size=(rows, count))
    return per_seed[drawn, np.arange(rows)[:, None]].mean(axis=1)
