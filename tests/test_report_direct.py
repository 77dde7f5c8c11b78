"""The report's Q-direct section on hand-made evaluations: which settings are compared, the clean
and drop differences per group and language with their intervals, and an answer that states a
difference only where its interval excludes zero."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats as scipy_stats

from xstilts.layout import DIRECT_FILES, REPORT_FILES, ROBUSTNESS_FILES
from xstilts.report import write_report
from xstilts.report.direct import _tables, comparisons, direct_table, q_direct
from xstilts.report.robustness import per_language

from test_report_robustness import evaluation

FURTHER = {("mnli_mt", "xnli")}
DIRECT = "none / mnli_mt"
SPREAD = {"xnli": (2.0, 4)}


def study(settings: dict[str, tuple[dict, dict]], seeds=(1,)) -> dict:
    """Each setting: examples right of 100 per language, clean and under `typos`."""
    return {("m", setting, "xnli", condition, seed): evaluation(right)
            for setting, (clean, typos) in settings.items() for seed in seeds
            for condition, right in (("clean", clean), ("typos", typos))}


def test_each_recipe_and_each_recipe_then_the_multilingual_target_is_compared_with_direct_fine_tuning():
    settings = {row: ({"en": 90}, {"en": 80}) for row in ("none", "mnli", DIRECT, "mnli / mnli_mt", "squad")}
    found = comparisons(study(settings), ["none", DIRECT, "mnli", "mnli / mnli_mt", "squad"], FURTHER)
    assert found == [("m", "xnli", "none", DIRECT), ("m", "xnli", "mnli", DIRECT),
                     ("m", "xnli", "mnli / mnli_mt", DIRECT), ("m", "xnli", "mnli / mnli_mt", "mnli"),
                     ("m", "xnli", "squad", DIRECT)]
    assert comparisons(study({"mnli": ({"en": 90}, {"en": 80})}), ["mnli"], FURTHER) == []  # no direct row


def test_clean_and_drop_differences_by_group_and_language_with_the_interval_worked_by_hand():
    """German: mnli right on 60 of 100 clean and 30 under typos (drop 30); direct fine-tuning on 80
    and 70 (drop 10). One seed each, so the interval is the example bootstrap's combined with the
    seed spread (std 2, 4 df): t(4) * sqrt(var_boot + 2**2 * (1 + 1))."""
    evaluations = study({"mnli": ({"en": 90, "de": 60}, {"en": 80, "de": 30}),
                         DIRECT: ({"en": 85, "de": 80}, {"en": 75, "de": 70})})
    table = direct_table(evaluations, per_language(evaluations), ["mnli", DIRECT], FURTHER, SPREAD, {})
    row = {(r.level, r.group, r.condition): r for r in table.itertuples(index=False)}
    german_clean, german_drop = row[("language", "de", "clean")], row[("language", "de", "typos")]
    assert (german_clean.setting_value, german_clean.against_value, german_clean.difference) == pytest.approx(
        (60.0, 80.0, -20.0))
    assert (german_drop.setting_value, german_drop.against_value, german_drop.difference) == pytest.approx(
        (30.0, 10.0, 20.0))
    assert row[("group", "non-English", "typos")].difference == pytest.approx(20.0)  # de is the only other
    assert row[("group", "English", "clean")].difference == pytest.approx(5.0)
    # The example bootstrap of a clean difference of two 0/1 samples: variance p(1-p)/n on each side.
    boot_var = 100**2 * (0.6 * 0.4 / 100 + 0.8 * 0.2 / 100)
    half = scipy_stats.t.ppf(0.975, 4) * math.sqrt(boot_var + 2.0**2 * 2)
    assert german_clean.high - german_clean.difference == pytest.approx(half, rel=0.1)
    assert german_clean.interval == "examples+seed spread" and german_clean.high < 0
    answer = q_direct(table)
    assert "`mnli` (English intermediate training, English target) against `none / mnli_mt`" in answer
    assert "clean score 60.0 against 80.0, -20.0 [" in answer and "(lower)" in answer
    assert "drop under typos 30.0 against 10.0, +20.0 [" in answer and "(it loses more)" in answer


def test_a_difference_within_noise_is_said_to_be_so():
    evaluations = study({"mnli": ({"en": 90, "de": 60}, {"en": 80, "de": 50}),
                         DIRECT: ({"en": 90, "de": 61}, {"en": 80, "de": 50})})
    table = direct_table(evaluations, per_language(evaluations), ["mnli", DIRECT], FURTHER, SPREAD, {})
    answer = q_direct(table)
    assert answer.count("(cannot be told from noise)") == 2 and "loses" not in answer
    assert "_-1.0 [" in _tables(table, "group")  # in italics: the interval contains 0
    without = direct_table(evaluations, per_language(evaluations), ["mnli", DIRECT], FURTHER, None, {})
    assert set(without["interval"]) == {"none: one seed and no report.seed_spread"}
    assert "(no interval)" in q_direct(without) and "lower" not in q_direct(without)


def test_several_seeds_resample_the_seeds():
    evaluations = study({"mnli": ({"en": 90, "de": 60}, {"en": 80, "de": 30}),
                         DIRECT: ({"en": 85, "de": 80}, {"en": 75, "de": 70})}, seeds=(1, 2, 3))
    table = direct_table(evaluations, per_language(evaluations), ["mnli", DIRECT], FURTHER, None, {})
    assert set(table["interval"]) == {"examples+seeds"}


def test_write_report_writes_the_section_and_the_answer_in_the_index(tmp_path):
    evaluations = study({"none": ({"en": 90, "de": 60}, {"en": 80, "de": 30}),
                         "mnli": ({"en": 90, "de": 60}, {"en": 80, "de": 30}),
                         DIRECT: ({"en": 85, "de": 80}, {"en": 75, "de": 70})})
    clean = [{"model": "m", "recipe": row, "target": "mnli_mt" if row == DIRECT else "mnli", "bench": "xnli",
              "condition": "clean", "seed": 1, "lang": lang, "score": e.scores[lang], "metrics": {}}
             for (_, row, _, condition, _), e in evaluations.items() if condition == "clean" for lang in e.scores]
    written = write_report(clean, {}, tmp_path, recipe_order=["none", "mnli"], bench_order=["xnli"], qa_benches=[],
                           title="t", seed_spread=SPREAD, perturbed=evaluations, further_targets=FURTHER)
    assert [p.name for p in written] == list(REPORT_FILES + ROBUSTNESS_FILES + DIRECT_FILES)
    index = (tmp_path / "index.md").read_text()
    assert "## Direct multilingual fine-tuning (Q-direct)" in index and "`mnli` (English intermediate" in index
    table = pd.read_csv(tmp_path / "q_direct.csv")
    assert set(zip(table["setting"], table["against"])) == {("none", DIRECT), ("mnli", DIRECT)}


def test_drops_from_clean_scores_apart_beyond_noise_come_with_relative_drops_and_the_caveat():
    evaluations = study({"mnli": ({"en": 90, "de": 40}, {"en": 80, "de": 30}),
                         DIRECT: ({"en": 90, "de": 90}, {"en": 80, "de": 60})})
    answer = q_direct(direct_table(evaluations, per_language(evaluations), ["mnli", DIRECT], FURTHER, SPREAD, {}))
    assert "(it loses less)" in answer and "the side nearer chance has less to lose" in answer
    assert "typos 25.0% against 33.3%" in answer  # 10 of 40 points against 30 of 90
    close = study({"mnli": ({"en": 90, "de": 80}, {"en": 80, "de": 50}),
                   DIRECT: ({"en": 90, "de": 81}, {"en": 80, "de": 70})})
    assert "less to lose" not in q_direct(direct_table(close, per_language(close), ["mnli", DIRECT], FURTHER, SPREAD, {}))


def test_the_tables_group_the_other_languages_by_their_profiles_and_list_the_languages(tmp_path):
    """de and ru share a script group, ar is alone in its own; the group's difference pools its languages."""
    from xstilts.languages import profiles, source
    evaluations = study({
        "mnli": ({"en": 90, "de": 60, "ru": 50, "ar": 40}, {"en": 80, "de": 30, "ru": 20, "ar": 20}),
        DIRECT: ({"en": 90, "de": 80, "ru": 80, "ar": 70}, {"en": 80, "de": 70, "ru": 70, "ar": 60})})
    info = {"xnli": {"source": source(False), "languages": profiles(["en", "de", "ru", "ar"], synthetic=False)}}
    table = direct_table(evaluations, per_language(evaluations), ["mnli", DIRECT], FURTHER, SPREAD, {}, info)
    row = {(r.level, r.group, r.condition): r for r in table.itertuples(index=False)}
    assert {group for level, group, _ in row if level == "family"} == {"Indo-European", "Afro-Asiatic"}
    assert row[("family", "Indo-European", "typos")].difference == pytest.approx(20.0)  # de, ru: 30 lost against 10
    assert row[("script", "Arabic", "clean")].difference == pytest.approx(-30.0)
    assert {group for level, group, _ in row if level == "script"} == {"Latin", "Cyrillic", "Arabic"}
    assert not [key for key in row if key[0] in ("script", "family") and key[1] == "en"]
    clean = [{"model": "m", "recipe": r, "target": "mnli_mt" if r == DIRECT else "mnli", "bench": "xnli",
              "condition": "clean", "seed": 1, "lang": lang, "score": e.scores[lang], "metrics": {}}
             for (_, r, _, condition, _), e in evaluations.items() if condition == "clean" for lang in e.scores]
    write_report(clean, {}, tmp_path, recipe_order=["mnli"], bench_order=["xnli"], qa_benches=[], title="t",
                 seed_spread=SPREAD, perturbed=evaluations, further_targets=FURTHER, language_info=info)
    text = (tmp_path / "q_direct.md").read_text()
    assert "## By family (languages other than English)" in text and "## By script" in text
    assert "| ar | Arabic | Afro-Asiatic | far (≥ 0.320) | 0.320 | 1.000 |" in text
    assert "Source: URIEL via lang2vec 1.1.2" in text
    assert (tmp_path / "q_direct_distance.png").stat().st_size > 0


def test_each_settings_robustness_gap_is_its_other_languages_drop_minus_englishs():
    """mnli: German loses 30, English 10 (gap +20, beyond noise); direct fine-tuning: both lose 10."""
    from xstilts.report.direct import gap_table
    evaluations = study({"mnli": ({"en": 90, "de": 60}, {"en": 80, "de": 30}),
                         DIRECT: ({"en": 85, "de": 80}, {"en": 75, "de": 70})})
    by_key = per_language(evaluations)
    table = direct_table(evaluations, by_key, ["mnli", DIRECT], FURTHER, SPREAD, {})
    gaps = {row.setting: row for row in gap_table(evaluations, by_key, table, SPREAD, {}).itertuples(index=False)}
    assert gaps["mnli"].gap == pytest.approx(20.0) and gaps["mnli"].low > 0
    assert gaps[DIRECT].gap == pytest.approx(0.0) and gaps[DIRECT].low < 0 < gaps[DIRECT].high
    assert gaps["mnli"].interval == "examples+seed spread"
