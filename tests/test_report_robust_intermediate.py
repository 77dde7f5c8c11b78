"""The report's Q-robust-int section: which recipes are compared with which English-only recipe,
the paired interval of their differences (clean, perturbed score, drop) by group and language, and
an answer that reads a difference only where its interval excludes zero."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from xstilts.config import ConfigError, Plan
from xstilts.layout import ROBUST_INT_FILES
from xstilts.report import write_report
from xstilts.report.robust_intermediate import comparisons, q_robust_int, robust_table
from xstilts.report.robustness import Evaluation
from xstilts.robustness.drops import compare_paired

from conftest import ROOT as REPO

SPREAD = {"xnli": (2.0, 4)}
ROBUST = {"against": "mnli", "recipes": ["mnli_cs"]}


def evaluation(right: dict[str, list[int]], n: int = 100, offset: int = 0) -> Evaluation:
    """Per language, the examples (of n) in `right` scored 1, the rest 0; ids from `offset`."""
    predictions = {lang: {str(offset + i): {"id": str(offset + i), "prediction": "a" if i in chosen else "b",
                                            "example_score": float(i in chosen)} for i in range(n)}
                   for lang, chosen in right.items()}
    return Evaluation({lang: 100.0 * len(set(chosen)) / n for lang, chosen in right.items()}, predictions)


def first(k: int) -> list[int]:
    return list(range(k))


def study(recipes: dict[str, tuple[dict, dict]], seeds=(1,)) -> dict:
    """Each recipe: the examples right per language, clean and under `typos`."""
    return {("m", recipe, "xnli", condition, seed): evaluation(right)
            for recipe, (clean, typos) in recipes.items() for seed in seeds
            for condition, right in (("clean", clean), ("typos", typos))}


def demo_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------- which recipes
def test_the_demo_compares_its_code_switched_and_adversarial_recipes_with_plain_english_mnli():
    assert Plan(demo_config()).robust_comparison() == {"against": "mnli",
                                                       "recipes": ["mnli_cs", "mnli_freelb", "mnli_polygloss"]}


def test_the_english_only_recipe_can_be_named_and_a_wrong_one_is_refused_by_name():
    config = demo_config()
    config["report"]["english_only"] = "multi"
    assert Plan(config).robust_comparison()["against"] == "multi"
    for wrong in ("mnli_cs", "mnli_freelb", "nope"):
        config["report"]["english_only"] = wrong
        with pytest.raises(ConfigError, match=f"report.english_only: '{wrong}' is not a recipe trained plainly on "
                                              "English data .* such recipes here: mnli, multi"):
            Plan(config)


def test_adversarial_training_set_for_every_intermediate_stage_leaves_no_english_only_recipe():
    config = copy.deepcopy(demo_config())
    config["training"]["intermediate"] = {"adversarial": {"method": "pgd", "eps": 0.1, "steps": 1, "step_size": 0.1}}
    assert Plan(config).robust_comparison() == {"against": None, "recipes": []}


def test_only_recipes_scored_where_the_english_only_recipe_is_are_compared():
    evaluations = study({r: ({"en": first(90)}, {"en": first(80)}) for r in ("none", "mnli", "mnli_cs")})
    del evaluations[("m", "mnli", "xnli", "clean", 1)]
    assert comparisons(evaluations, ["mnli_cs"], "mnli") == []
    assert comparisons(study({r: ({"en": first(90)}, {"en": first(80)}) for r in ("mnli", "mnli_cs")}),
                       ["mnli_cs"], "mnli") == [("m", "xnli", "mnli_cs", "mnli")]


# ---------------------------------------------------------------------------- the paired interval
def test_the_paired_interval_is_the_bootstrap_of_per_example_differences():
    """Two seeds a side, equal within a side: the seed draw adds nothing, and the interval is that of
    the mean of per-example differences, two of 100 examples differing: +2 with a standard error of
    100 * sqrt(0.02 * 0.98 / 100) = 1.4. Unpaired, the two 0/1 samples' variances would add (+-13)."""
    ours, theirs = np.array([1.0] * 62 + [0.0] * 38), np.array([1.0] * 60 + [0.0] * 40)
    result = compare_paired([ours, ours], [theirs, theirs])
    assert result.difference == pytest.approx(2.0)
    assert (result.recipe_drop, result.baseline_drop) == pytest.approx((62.0, 60.0))
    # Two discordant examples of 100: the count drawn is binomial(100, 0.02), its 95% range 0 to 5.
    assert result.low == pytest.approx(0.0) and result.high == pytest.approx(5.0)
    shuffled = np.random.default_rng(0).permutation(theirs)  # the same score, on other examples
    assert compare_paired([ours, ours], [shuffled, shuffled]).high - result.high > 5.0


def test_a_paired_comparison_refuses_sides_on_different_examples_and_one_seed_without_a_spread():
    with pytest.raises(ValueError, match="same examples"):
        compare_paired([np.ones(10)], [np.ones(9)], seed_spread=(1.0, 4))
    with pytest.raises(ValueError, match="report.seed_spread"):
        compare_paired([np.ones(10)], [np.ones(10)])


def test_clean_perturbed_score_and_drop_differences_by_group_and_language():
    """German: mnli_cs right on 62 of 100 clean and 50 under typos; mnli on 60 and 40, the same
    examples but two (clean) and ten (typos) more; two seeds each, equal."""
    evaluations = study({"mnli_cs": ({"en": first(90), "de": first(62)}, {"en": first(80), "de": first(50)}),
                         "mnli": ({"en": first(90), "de": first(60)}, {"en": first(80), "de": first(40)})}, seeds=(1, 2))
    table = robust_table(evaluations, [("m", "xnli", "mnli_cs", "mnli")], None, {})
    row = {(r.level, r.group, r.condition, r.measure): r for r in table.itertuples(index=False)}
    assert set(table["measure"]) == {"score", "drop"}
    assert row[("language", "de", "clean", "score")].difference == pytest.approx(2.0)
    assert row[("language", "de", "typos", "score")].difference == pytest.approx(10.0)
    assert row[("language", "de", "typos", "drop")].difference == pytest.approx(-8.0)  # 12 against 20
    assert row[("group", "English", "typos", "score")].difference == pytest.approx(0.0)
    assert row[("group", "non-English", "typos", "score")].low > 0  # ten examples more, none fewer
    assert set(table["interval"]) == {"paired examples+seeds"}
    answer = q_robust_int(table)
    assert "`mnli_cs` against `mnli`" in answer
    assert "score under typos 50.0 against 40.0, +10.0 [" in answer and "(better)" in answer
    assert "clean score 62.0 against 60.0" in answer


def test_a_difference_within_noise_is_said_to_be_so_and_one_seed_needs_the_spread():
    evaluations = study({"mnli_cs": ({"en": first(90), "de": first(61)}, {"en": first(80), "de": first(50)}),
                         "mnli": ({"en": first(90), "de": first(60)}, {"en": first(80), "de": first(50)})})
    table = robust_table(evaluations, [("m", "xnli", "mnli_cs", "mnli")], SPREAD, {})
    answer = q_robust_int(table)
    assert "(better)" not in answer and "(worse)" not in answer and "(cannot be told from noise)" in answer
    assert set(table["interval"]) == {"paired examples+seed spread"}
    without = robust_table(evaluations, [("m", "xnli", "mnli_cs", "mnli")], None, {})
    assert set(without["interval"]) == {"none: one seed and no report.seed_spread"}
    assert "(no interval)" in q_robust_int(without)


def test_sides_scored_on_different_examples_are_compared_unpaired_and_say_so():
    evaluations = study({"mnli_cs": ({"de": first(62)}, {"de": first(50)}), "mnli": ({"de": first(60)}, {"de": first(40)})})
    evaluations[("m", "mnli", "xnli", "clean", 1)] = evaluation({"de": first(60)}, offset=1000)
    evaluations[("m", "mnli", "xnli", "typos", 1)] = evaluation({"de": first(40)}, offset=1000)
    table = robust_table(evaluations, [("m", "xnli", "mnli_cs", "mnli")], SPREAD, {})
    clean = table[(table["condition"] == "clean") & (table["level"] == "language")].iloc[0]
    assert clean.interval.startswith("unpaired examples+seed spread")


def test_groupings_of_the_languages_profiles_are_levels():
    info = {"xnli": {"source": "test", "languages": {
        "en": {"groups": {"script": "Latin"}, "distances": {"featural": 0.0}},
        "de": {"groups": {"script": "Latin"}, "distances": {"featural": 0.3}},
        "ru": {"groups": {"script": "Cyrillic"}, "distances": {"featural": 0.5}}}}}
    right = {"en": first(90), "de": first(60), "ru": first(50)}
    evaluations = study({"mnli_cs": (right, right), "mnli": (right, right)})
    table = robust_table(evaluations, [("m", "xnli", "mnli_cs", "mnli")], SPREAD, {}, info)
    assert set(zip(table["level"], table["group"])) == {
        ("group", "English"), ("group", "non-English"), ("script", "Latin"), ("script", "Cyrillic"),
        ("language", "en"), ("language", "de"), ("language", "ru")}


# ---------------------------------------------------------------------------- the files
def test_the_report_writes_the_section_and_links_it_only_where_recipes_are_compared(tmp_path):
    evaluations = study({r: ({"en": first(90), "de": first(60)}, {"en": first(80), "de": first(50)})
                         for r in ("none", "mnli", "mnli_cs")})
    results = [{"model": "m", "recipe": r, "bench": "xnli", "seed": 1, "lang": lang, "score": s, "metrics": {}}
               for r in ("none", "mnli", "mnli_cs") for lang, s in (("en", 90.0), ("de", 60.0))]
    kwargs = dict(recipe_order=["none", "mnli", "mnli_cs"], bench_order=["xnli"], qa_benches=[], title="t",
                  seed_spread={"xnli": SPREAD["xnli"]}, perturbed=evaluations)
    written = write_report(results, {}, tmp_path / "with", robust=ROBUST, **kwargs)
    assert {p.name for p in written} >= set(ROBUST_INT_FILES)
    assert all((tmp_path / "with" / name).exists() for name in ROBUST_INT_FILES)
    index = (tmp_path / "with" / "index.md").read_text(encoding="utf-8")
    assert "(Q-robust-int)" in index and "[q_robust_int.md](q_robust_int.md)" in index
    section = (tmp_path / "with" / "q_robust_int.md").read_text(encoding="utf-8")
    assert "against English-only (`mnli`)" in section and "## Scores by language" in section
    write_report(results, {}, tmp_path / "without", **kwargs)
    assert not any((tmp_path / "without" / name).exists() for name in ROBUST_INT_FILES)
    assert "Q-robust-int" not in (tmp_path / "without" / "index.md").read_text(encoding="utf-8")
