"""Intervals beside every change, worked by hand (t quantiles from tables: t(0.975, 2) = 4.3027,
t(0.975, 8) = 2.3060), and the report's use of them."""

import math

import pandas as pd
import pytest

from test_report import MODEL, OPTIONS, make_results
from xstilts import stats
from xstilts.report import write_report


def test_welch_interval_of_two_seeds_each():
    # se = sqrt(1/2 + 1/2) = 1; df = 1 / (0.25 + 0.25) = 2
    assert stats.welch_half_width(1.0, 2, 1.0, 2) == pytest.approx(4.3027, abs=1e-4)


def test_welch_interval_uses_welch_satterthwaite_degrees_of_freedom():
    # stds 0.5*sqrt(2) and sqrt(2), two seeds each: se = sqrt(0.25 + 1) = 1.1180, df = 1.5625/1.0625 = 1.4706
    half = stats.welch_half_width(0.5 * math.sqrt(2), 2, math.sqrt(2), 2)
    assert half == pytest.approx(6.9185, abs=1e-3)


def test_reference_interval_of_two_single_seed_runs():
    # a spread of 2.0 on 8 degrees of freedom: 2.3060 * 2 * sqrt(1 + 1)
    assert stats.reference_half_width(2.0, 8, 1, 1) == pytest.approx(6.5224, abs=1e-3)


def test_seed_spread_pools_the_recipes_variances():
    table = pd.DataFrame([
        {"model": "m", "recipe": "none", "column": "xnli", "mean": 40.0, "std": 1.0, "n_seeds": 5},
        {"model": "m", "recipe": "mnli", "column": "xnli", "mean": 45.0, "std": 2.0, "n_seeds": 5},
        {"model": "m", "recipe": "none", "column": "pawsx", "mean": 50.0, "std": float("nan"), "n_seeds": 1},
    ])
    spread = stats.seed_spread(table)
    assert list(spread["column"]) == ["xnli"]  # a one-seed cell has no spread to give
    assert spread["std"].iloc[0] == pytest.approx(math.sqrt((4 * 1 + 4 * 4) / 8))
    assert spread["df"].iloc[0] == 8


def test_a_checkpoint_read_under_several_seeds_adds_no_degrees_of_freedom():
    """`none`'s retrieval scores are the pretrained model's under every seed: a spread of exactly 0
    over five seeds is one checkpoint, and pooled it would shrink mnli's spread by a factor of 1.4."""
    table = pd.DataFrame([
        {"model": "m", "recipe": "none", "column": "tatoeba", "mean": 40.0, "std": 0.0, "n_seeds": 5},
        {"model": "m", "recipe": "none / encoder", "column": "tatoeba", "mean": 62.3, "std": 7.9e-15, "n_seeds": 5},
        {"model": "m", "recipe": "mnli", "column": "tatoeba", "mean": 37.0, "std": 2.5, "n_seeds": 5},
    ])
    spread = stats.seed_spread(table)
    assert spread["std"].iloc[0] == pytest.approx(2.5) and spread["df"].iloc[0] == 4


def test_a_bad_seed_spread_file_is_named(tmp_path):
    path = tmp_path / "spread.csv"
    path.write_text("column,std\nxnli,1.0\n")
    with pytest.raises(ValueError, match="spread.csv: lacks column"):
        stats.read_seed_spread(path)


def test_single_seed_report_marks_changes_within_the_measured_spread(tmp_path):
    """One seed: the change of mnli on xnli is +4.0 - 0.5 - (-1.0) = +4.5 (seed 1 sits at BASE - SPREAD);
    a spread of 1.0 (df 8) gives +-3.26, outside; a spread of 2.0 gives +-6.52, which contains it."""
    results = make_results(seeds=(1,))
    for std, italic in ((1.0, False), (2.0, True)):
        out = tmp_path / f"std{std}"
        write_report(results, {}, out, **OPTIONS, seed_spread={"xnli": (std, 8)})
        main = pd.read_csv(out / "main_table.csv")
        cell = main[(main["recipe"] == "mnli") & (main["column"] == "xnli")].iloc[0]
        assert cell["delta"] == pytest.approx(4.5)
        assert cell["delta_half_width"] == pytest.approx(2.3060 * std * math.sqrt(2), abs=1e-3)
        assert cell["interval_from"] == "seed_spread"
        text = f"{cell['delta']:+.1f} ± {cell['delta_half_width']:.1f}"
        markdown = (out / "main_table.md").read_text()
        assert (f"_{text}_" in markdown) == italic and text in markdown


def test_two_seed_report_takes_intervals_from_its_seeds_and_says_when_there_are_none(tmp_path):
    write_report(make_results(), {}, tmp_path / "two", **OPTIONS)
    main = pd.read_csv(tmp_path / "two" / "main_table.csv")
    cell = main[(main["recipe"] == "mnli") & (main["column"] == "xnli")].iloc[0]
    assert cell["interval_from"] == "seeds"
    assert cell["delta_half_width"] == pytest.approx(6.9185, abs=1e-3)
    write_report(make_results(seeds=(1,)), {}, tmp_path / "one", **OPTIONS)
    assert "no evidence of an effect" in (tmp_path / "one" / "main_table.md").read_text()
    assert MODEL in (tmp_path / "one" / "main_table.md").read_text()
