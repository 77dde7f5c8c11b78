"""The report's robustness section on hand-made evaluations: drops, changed predictions and gaps
per key, recipes compared on drops with intervals, and a Q-adv answer that states an effect only
where its interval excludes zero."""

from __future__ import annotations

import json

import pytest

from xstilts.layout import REPORT_FILES, ROBUSTNESS_FILES
from xstilts.report import write_report
from xstilts.report.robustness import (Evaluation, gap_table, load_evaluations, load_set_summaries, per_language,
                                        q_adv, summary_table)

SPREAD = {"xnli": (1.0, 8)}


def evaluation(correct: dict[str, int], n: int = 100) -> Evaluation:
    """Per language, the first `correct` of n examples right (label "a"; wrong ones say "b")."""
    predictions = {lang: {str(i): {"id": str(i), "prediction": "a" if i < k else "b", "example_score": float(i < k)}
                          for i in range(n)} for lang, k in correct.items()}
    return Evaluation({lang: 100.0 * k / n for lang, k in correct.items()}, predictions)


def study(recipe_drops: dict[str, tuple[int, int]], seeds=(1,)) -> dict:
    """Each recipe: clean en 100 and de 80 right of 100; perturbed: en and de lose the given counts."""
    found = {}
    for recipe, (en, de) in recipe_drops.items():
        for seed in seeds:
            found[("m", recipe, "xnli", "clean", seed)] = evaluation({"en": 100, "de": 80})
            found[("m", recipe, "xnli", "typos", seed)] = evaluation({"en": 100 - en, "de": 80 - de})
    return found


def test_each_key_has_its_drop_changed_share_and_gap():
    table = per_language(study({"none": (10, 20)}))
    rows = {row.lang: row for row in table.itertuples(index=False)}
    assert rows["en"].drop == pytest.approx(10.0) and rows["de"].drop == pytest.approx(20.0)
    assert rows["de"].relative_drop == pytest.approx(25.0)  # 20 of 80 points
    assert rows["en"].changed == pytest.approx(10.0) and rows["de"].changed == pytest.approx(20.0)
    assert rows["de"].gap == pytest.approx(10.0) and table.loc[table["lang"] == "en", "gap"].isna().all()


def test_a_recipe_that_loses_much_more_is_stated_and_one_that_loses_the_same_is_not():
    evaluations = study({"none": (10, 20), "mnli": (40, 50), "multi": (10, 20)})
    by_key = per_language(evaluations)
    summary = summary_table(evaluations, by_key, ["none", "mnli", "multi"], SPREAD, {})
    mnli = summary[summary["recipe"] == "mnli"].iloc[0]
    assert mnli.vs_none == pytest.approx(30.0) and mnli.low > 0 and mnli.interval == "examples+seed spread"
    multi = summary[summary["recipe"] == "multi"].iloc[0]
    assert multi.vs_none == pytest.approx(0.0) and multi.low < 0 < multi.high
    answer = q_adv(summary, by_key)
    assert "`mnli` +30.0 [" in answer and "it loses more than `none`" in answer
    assert "can be told from noise for `multi` +0.0 [" in answer
    assert "`multi`" not in answer.split("excludes zero:")[1].split(".")[0]


def test_a_drop_from_a_different_clean_level_is_stated_with_the_caveat_and_relative_drops():
    """`direct` starts 40 points higher in German and loses more: its clean level differs beyond noise,
    so the sentence says the drops start from different heights; `mnli` starts where `none` does."""
    evaluations = study({"none": (10, 20), "mnli": (40, 50)})
    evaluations[("m", "direct", "xnli", "clean", 1)] = evaluation({"en": 100, "de": 100})  # none: de 80
    evaluations[("m", "direct", "xnli", "typos", 1)] = evaluation({"en": 60, "de": 50})
    by_key = per_language(evaluations)
    summary = summary_table(evaluations, by_key, ["none", "mnli", "direct"], SPREAD, {})
    direct = summary[summary["recipe"] == "direct"].iloc[0]
    assert direct.clean_vs_none == pytest.approx(10.0) and direct.clean_low > 0  # mean of en +0, de +20
    mnli = summary[summary["recipe"] == "mnli"].iloc[0]
    assert mnli.clean_vs_none == pytest.approx(0.0) and mnli.clean_low < 0 < mnli.clean_high
    answer = q_adv(summary, by_key)
    direct_part = answer.split("`direct` +")[1].split("; `")[0]
    assert "it loses more than `none` (the clean scores differ beyond noise (100.0 against 90.0)" in direct_part
    assert "typos 45.0% against 16.7%" in direct_part  # drops 45 of 100 and 15 of 90
    mnli_part = answer.split("`mnli` +")[1].split("; `")[0]
    assert "it loses more than `none`" in mnli_part and "clean scores differ" not in mnli_part


def test_without_a_seed_spread_one_seed_gets_no_interval_and_no_claim():
    evaluations = study({"none": (10, 20), "mnli": (40, 50)})
    by_key = per_language(evaluations)
    summary = summary_table(evaluations, by_key, ["none", "mnli"], None, {})
    assert summary.loc[summary["recipe"] == "mnli", "interval"].item() == "none: one seed and no report.seed_spread"
    answer = q_adv(summary, by_key)
    assert "loses more" not in answer and "No interval, so no comparison, for `mnli`" in answer


def test_several_seeds_resample_the_seeds_without_the_spread():
    evaluations = study({"none": (10, 20), "mnli": (40, 50)}, seeds=(1, 2, 3))
    by_key = per_language(evaluations)
    summary = summary_table(evaluations, by_key, ["none", "mnli"], None, {})
    assert summary.loc[summary["recipe"] == "mnli", "interval"].item() == "examples+seeds"
    assert summary.loc[summary["recipe"] == "mnli", "n_seeds"].item() == 3


def test_predictions_of_other_examples_are_refused():
    evaluations = study({"none": (10, 20)})
    perturbed = evaluations[("m", "none", "xnli", "typos", 1)]
    perturbed.predictions["de"]["x"] = perturbed.predictions["de"].pop("0")
    with pytest.raises(ValueError, match=r"xnli under 'typos' \(de\): the perturbed predictions are not of the clean"):
        per_language(evaluations)


def test_write_report_adds_the_section_and_its_answer_to_the_index(tmp_path):
    evaluations = study({"none": (10, 20), "mnli": (40, 50)})
    clean = [{"model": "m", "recipe": recipe, "bench": "xnli", "condition": "clean", "seed": 1, "lang": lang,
              "score": score, "metrics": {"accuracy": score}}
             for recipe in ("none", "mnli") for lang, score in (("en", 100.0), ("de", 80.0))]
    written = write_report(clean, {}, tmp_path, recipe_order=["none", "mnli"], bench_order=["xnli"], qa_benches=[],
                           title="t", seed_spread=SPREAD, perturbed=evaluations)
    assert [p.name for p in written] == list(REPORT_FILES + ROBUSTNESS_FILES)
    index = (tmp_path / "index.md").read_text()
    assert "## Robustness (Q-adv)" in index and "it loses more than `none`" in index
    table = (tmp_path / "robustness_table.csv").read_text()
    assert table.splitlines()[0].startswith("model,recipe,bench,condition,n_seeds,clean,score,drop")


def test_evaluations_are_read_from_the_scores_and_the_predictions_beside_them(tmp_path):
    folder = tmp_path / "eval/m/none/mnli/xnli/typos/seed1"
    folder.mkdir(parents=True)
    (folder / "scores.json").write_text(json.dumps({"results": [
        {"model": "m", "recipe": "none", "bench": "xnli", "condition": "typos", "seed": 1, "lang": "de", "score": 50.0,
         "metrics": {}}]}))
    (folder / "predictions.jsonl").write_text(
        json.dumps({"lang": "de", "id": "a", "prediction": "x", "example_score": 1.0}) + "\n"
        + json.dumps({"lang": "de", "id": "b", "prediction": "y", "example_score": 0.0}) + "\n")
    [(key, found)] = load_evaluations([folder / "scores.json"]).items()
    assert key == ("m", "none", "xnli", "typos", 1) and found.scores == {"de": 50.0}
    assert sorted(found.predictions["de"]) == ["a", "b"]


def test_the_section_says_what_each_perturbed_set_changed_and_which_dictionaries_were_missing(tmp_path):
    paths = []
    for lang, share, missing in (("en", 0.25, []), ("de", 0.1, ["de-ru"])):
        path = tmp_path / f"data/xnli/test/codeswitch/{lang}.summary.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"examples": 10, "changed_examples": 4, "edits": 5, "words": 20,
                                    "edited_share": share, "missing_dictionaries": missing}))
        paths.append(path)
    sets = load_set_summaries(paths)
    assert list(sets["condition"]) == ["codeswitch"] * 2 and list(sets["edited_share"]) == [25.0, 10.0]
    write_report([{"model": "m", "recipe": "none", "bench": "xnli", "condition": "clean", "seed": 1, "lang": "en",
                   "score": 100.0, "metrics": {}}], {}, tmp_path, recipe_order=["none"], bench_order=["xnli"],
                 qa_benches=[], title="t", seed_spread=SPREAD, perturbed=study({"none": (10, 20)}), perturbed_sets=sets)
    text = (tmp_path / "robustness.md").read_text()
    assert "| xnli | codeswitch | words edited % | 25.0 | 10.0 |" in text
    assert "| xnli | codeswitch | examples changed % | 40.0 | 40.0 |" in text
    assert "Dictionary pairs without a file (their words were not switched): de-ru." in text


def test_the_robustness_gap_is_stated_where_its_interval_excludes_zero():
    """German loses 30 points more than English in `none` (beyond noise); in `mnli` the two lose the same."""
    evaluations = study({"none": (10, 40), "mnli": (10, 10)})
    by_key = per_language(evaluations)
    gaps = gap_table(evaluations, by_key, SPREAD, {})
    none = gaps[gaps["recipe"] == "none"].iloc[0]
    assert none.lang == "de" and none.gap == pytest.approx(30.0) and none.low > 0
    mnli = gaps[gaps["recipe"] == "mnli"].iloc[0]
    assert mnli.gap == pytest.approx(0.0) and mnli.low < 0 < mnli.high
    answer = q_adv(summary_table(evaluations, by_key, ["none", "mnli"], SPREAD, {}), by_key, gaps)
    assert "Robustness gap of `none` (a language's drop minus English's): beyond noise for de +30.0 [" in answer
    assert gap_table(evaluations, by_key, None, {})["low"].isna().all()  # one seed, no spread: no interval


def test_mixed_pairs_with_several_partners_give_the_language_by_language_table(tmp_path):
    evaluations = {}
    for partner, correct in (("en", {"en": 100, "de": 70}), ("de", {"en": 60, "de": 80})):
        evaluations[("m", "none", "xnli", "clean", 1)] = evaluation({"en": 100, "de": 80})
        evaluations[("m", "none", "xnli", f"mixed-{partner}", 1)] = evaluation(correct)
    clean = [{"model": "m", "recipe": "none", "bench": "xnli", "condition": "clean", "seed": 1, "lang": lang,
              "score": score, "metrics": {}} for lang, score in (("en", 100.0), ("de", 80.0))]
    write_report(clean, {}, tmp_path, recipe_order=["none"], bench_order=["xnli"], qa_benches=[], title="t",
                 seed_spread=SPREAD, perturbed=evaluations, mixed={"mixed-en": ("mixed", "en"), "mixed-de": ("mixed", "de")})
    text = (tmp_path / "robustness.md").read_text()
    assert "### xnli mixed, none (m)\n\n| language | en | de |\n|:---|---:|---:|\n| en | 100.0 | 60.0 |\n| de | 70.0 | 80.0 |" in text


def test_mined_pairs_that_differ_under_a_perturbation_count_as_changed_not_as_an_error():
    """BUCC predicts pairs, not examples: the perturbed run mines other source lines."""
    def mined(pairs):
        return {"de": {s: {"id": s, "prediction": t, "margin": 1.0} for s, t in pairs}}
    evaluations = {("m", "none", "bucc2018", "clean", 1): Evaluation({"de": 80.0}, mined([("s1", "t1"), ("s2", "t2")])),
                   ("m", "none", "bucc2018", "typos", 1): Evaluation({"de": 60.0}, mined([("s1", "t1"), ("s3", "t3")]))}
    evaluations[("m", "mnli", "bucc2018", "clean", 1)] = Evaluation({"de": 80.0}, mined([("s1", "t1")]))
    evaluations[("m", "mnli", "bucc2018", "typos", 1)] = Evaluation({"de": 70.0}, mined([("s4", "t4")]))
    by_key = per_language(evaluations)
    row = by_key[by_key["recipe"] == "none"].iloc[0]
    assert row["drop"] == pytest.approx(20.0) and row["changed"] == pytest.approx(100.0 * 2 / 3)
    summary = summary_table(evaluations, by_key, ["none", "mnli"], {"bucc2018": (1.0, 8)}, {})
    mnli = summary[summary["recipe"] == "mnli"].iloc[0]
    assert mnli.vs_none == pytest.approx(-10.0) and mnli.interval.startswith("seeds only")


def attacked(clean_right: int, attacked_right: int, n: int = 20, seed_shift: int = 0) -> Evaluation:
    """An attack on the first n examples: the first `clean_right` right clean, the first
    `attacked_right` of them still right under attack; clean score of the subset recorded."""
    predictions = {"en": {str(i): {"id": str(i), "prediction": "a" if i < attacked_right else "b",
                                   "clean_prediction": "a" if i < clean_right else "b",
                                   "example_score": float(i < attacked_right),
                                   "clean_example_score": float(i < clean_right)} for i in range(n)}}
    metrics = {"en": {"clean_score": 100.0 * clean_right / n, "success_rate": 100.0 * (clean_right - attacked_right) / n,
                      "mean_size": 0.5, "forward_passes": 5, "backward_passes": 3}}
    return Evaluation({"en": 100.0 * attacked_right / n}, predictions, metrics)


def attack_study() -> dict:
    """Clean: 100 examples, 90 right. The attack (20 examples, 18 right clean) leaves `none` 16 and
    `mnli` 2 right; its clean score is that of its 20 examples, not of all 100."""
    found = {}
    for recipe, still in (("none", 16), ("mnli", 2)):
        found[("m", recipe, "xnli", "clean", 1)] = evaluation({"en": 90})
        found[("m", recipe, "xnli", "pgd", 1)] = attacked(18, still)
    return found


def test_an_attack_is_scored_against_the_clean_score_of_its_own_examples():
    by_key = per_language(attack_study())
    none = by_key[by_key["recipe"] == "none"].iloc[0]
    assert none.clean == pytest.approx(90.0) and none.score == pytest.approx(80.0) and none["drop"] == pytest.approx(10.0)
    assert none.attack and none.success_rate == pytest.approx(10.0) and none.perturbation_size == pytest.approx(0.5)
    assert none.changed == pytest.approx(10.0)  # 2 of the 20 attacked examples flipped


def test_the_attack_table_and_the_worst_case_answer(tmp_path):
    evaluations = attack_study()
    by_key = per_language(evaluations)
    summary = summary_table(evaluations, by_key, ["none", "mnli"], SPREAD, {})
    mnli = summary[summary["recipe"] == "mnli"].iloc[0]
    assert mnli.vs_none == pytest.approx(70.0) and mnli.low > 0  # 80 points lost against 10
    answer = q_adv(summary, by_key)
    assert "Worst case (attacks):" in answer and "Average case" not in answer
    assert "- **pgd** (m): Success rate `none` 10.0%, `mnli` 80.0%." in answer
    clean = [{"model": "m", "recipe": r, "bench": "xnli", "condition": "clean", "seed": 1, "lang": "en", "score": 90.0,
              "metrics": {}} for r in ("none", "mnli")]
    write_report(clean, {}, tmp_path, recipe_order=["none", "mnli"], bench_order=["xnli"], qa_benches=[], title="t",
                 seed_spread=SPREAD, perturbed=evaluations)
    text = (tmp_path / "robustness.md").read_text()
    assert "| m | xnli | pgd | mnli | 90.0 | 10.0 | 80.0 | 80.0 | 0.5 | 5.0/3.0 | +70.0 [" in text
    assert "### xnli under pgd (m): success rate % by language\n\n| recipe | en |" in text


def test_attacked_examples_must_be_among_the_clean_ones():
    evaluations = attack_study()
    records = evaluations[("m", "none", "xnli", "pgd", 1)].predictions["en"]
    records["x"] = records.pop("0")
    evaluations[("m", "none", "xnli", "clean", 1)].predictions["en"].pop("5")
    with pytest.raises(ValueError, match=r"xnli under 'pgd' \(en\): the perturbed predictions are not of the clean"):
        per_language(evaluations)


def test_a_transfer_set_of_some_examples_is_compared_with_their_clean_score():
    """A transfer set scores the 20 examples an attack reached: their clean score (18 of 20 right),
    not the language's (90 of 100), is what it drops from; it goes with the attacks."""
    clean = evaluation({"en": 90})
    records = clean.predictions["en"]
    for i in range(18, 20):
        records[str(i)] = {**records[str(i)], "prediction": "b", "example_score": 0.0}
    transferred = Evaluation({"en": 50.0}, {"en": {str(i): {"id": str(i), "prediction": "a" if i < 10 else "b",
                                                              "example_score": float(i < 10)} for i in range(20)}})
    by_key = per_language({("m", "none", "xnli", "clean", 1): clean, ("m", "none", "xnli", "flip-transfer", 1): transferred},
                          transfers=["flip-transfer"])
    row = by_key.iloc[0]
    assert row.clean == pytest.approx(90.0) and row["drop"] == pytest.approx(40.0) and row.attack
    summary = summary_table({("m", "none", "xnli", "clean", 1): clean, ("m", "none", "xnli", "flip-transfer", 1): transferred},
                            by_key, ["none"], SPREAD, {})
    answer = q_adv(summary, by_key, transfers={"flip-transfer": "`none` (seed 1, m)"})
    assert "- **flip-transfer** (m): The texts were made against `none` (seed 1, m): its drop is its own" in answer
