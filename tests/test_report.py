"""Tests of xstilts.report on synthetic results whose tables can be computed by hand.

Synthetic design: score(recipe, bench, seed, lang) = BASE[recipe][bench] + LANG_OFFSET[lang]
+ SEED_SIGN[seed] * SPREAD[recipe].
- LANG_OFFSET sums to 0 over en, de, fr, so a seed's benchmark score = BASE +- SPREAD;
- the two seeds sit at BASE - SPREAD and BASE + SPREAD, so the mean over seeds = BASE and the
  sample std = sqrt(((-SPREAD)^2 + SPREAD^2) / (2 - 1)) = SPREAD * sqrt(2);
- QA (xquad): F1 = score, EM = F1 - GAP[recipe], so (EM+F1)/2 = F1 - GAP/2 in every cell.
"""

import json
import math

import pandas as pd
import pytest

from xstilts.report import AVG_JIANT, AVG_XTREME, REPORT_FILES, load_results, load_train_logs, write_report

MODEL = "demo-tiny"
LANGS = ("de", "en", "fr")  # English not first on purpose: the tables must put it first.
LANG_OFFSET = {"en": 3.0, "de": 0.0, "fr": -3.0}
SEED_SIGN = {1: -1, 2: +1}
BASE = {
    "none": {"xnli": 70.0, "xquad": 60.0},
    "mnli": {"xnli": 74.0, "xquad": 63.0},
    "squad_v1": {"xnli": 71.0, "xquad": 68.0},
}
SPREAD = {"none": 1.0, "mnli": 0.5, "squad_v1": 2.0}
GAP = {"none": 20.0, "mnli": 16.0, "squad_v1": 12.0}
QA = {"xquad"}
TARGET = {"xnli": "mnli", "xquad": "squad_v1"}
OPTIONS = {"recipe_order": ["squad_v1", "mnli"], "bench_order": ["xnli", "xquad"], "qa_benches": QA,
           "title": "xstilts test report"}
SQRT2 = math.sqrt(2)


def make_result(recipe, bench, seed, lang, model=MODEL):
    score = BASE[recipe][bench] + LANG_OFFSET[lang] + SEED_SIGN[seed] * SPREAD[recipe]
    metrics = {"f1": score, "exact_match": score - GAP[recipe]} if bench in QA else {"accuracy": score}
    return {"model": model, "recipe": recipe, "target": TARGET[bench], "bench": bench, "seed": seed,
            "lang": lang, "split": "test", "n_examples": 100, "metrics": metrics, "score": score}


def make_results(seeds=(1, 2), skip=()):
    """Every (recipe, bench, seed, lang), less those whose (recipe, bench) is in `skip`."""
    return [make_result(recipe, bench, seed, lang)
            for recipe in BASE for bench in ("xnli", "xquad") for seed in seeds for lang in LANGS
            if (recipe, bench) not in skip]


TRAIN_LOGS = {
    "intermediate/mnli/seed1": [
        {"step": 10, "epoch": 0.1, "loss": 1.1, "lr": 1e-5},
        {"step": 20, "epoch": 0.2, "loss": 0.9, "lr": 1e-5},
        {"step": 20, "dev_score": 55.0, "dev": {"mnli": 55.0}},
    ],
    "demo-tiny/target/none/xquad/seed1": [
        {"step": 10, "epoch": 0.5, "loss": 3.0, "lr": 1e-5},
        {"step": 10, "dev_score": 40.0, "dev": {"squad_v1": 40.0}},
    ],
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("report")
    written = write_report(make_results(), TRAIN_LOGS, out_dir, **OPTIONS)
    return out_dir, written


@pytest.fixture(scope="module")
def main_table(report):
    return pd.read_csv(report[0] / "main_table.csv")


def cell(table, recipe, column):
    rows = table[(table["recipe"] == recipe) & (table["column"] == column)]
    assert len(rows) == 1, (recipe, column)
    return rows.iloc[0]


def test_every_report_file_is_written_and_nothing_else(report):
    out_dir, written = report
    assert [path.relative_to(out_dir).as_posix() for path in written] == list(REPORT_FILES)
    for name in REPORT_FILES:
        assert (out_dir / name).stat().st_size > 0, name
    # No temporary file is left behind by the atomic writes.
    assert sorted(path.name for path in out_dir.iterdir()) == sorted(REPORT_FILES)


def test_none_comes_first_then_recipe_order(main_table, report):
    assert main_table["recipe"].iloc[0] == "none"
    assert list(dict.fromkeys(main_table["recipe"])) == ["none", "squad_v1", "mnli"]
    markdown = (report[0] / "main_table.md").read_text()
    first_body_row = [line for line in markdown.splitlines() if line.startswith("| ")][1]
    assert first_body_row.startswith("| none |")


def test_benchmark_cells_mean_std_delta(main_table):
    # none/xnli: seeds 69 and 71 -> mean 70, std sqrt(2) = 1.414; delta 0.
    none = cell(main_table, "none", "xnli")
    assert none["mean"] == pytest.approx(70.0)
    assert none["std"] == pytest.approx(SQRT2, abs=1e-4)
    assert none["n_seeds"] == 2
    assert none["delta"] == pytest.approx(0.0)
    # mnli/xnli: seeds 73.5 and 74.5 -> mean 74, std 0.5 * sqrt(2) = 0.707; delta 74 - 70 = +4.
    mnli = cell(main_table, "mnli", "xnli")
    assert (mnli["mean"], mnli["std"], mnli["delta"]) == pytest.approx((74.0, 0.5 * SQRT2, 4.0), abs=1e-4)
    # squad_v1/xquad F1: seeds 66 and 70 -> mean 68, std 2 * sqrt(2) = 2.828; delta 68 - 60 = +8.
    squad = cell(main_table, "squad_v1", "xquad F1")
    assert (squad["mean"], squad["std"], squad["delta"]) == pytest.approx((68.0, 2 * SQRT2, 8.0), abs=1e-4)


def test_qa_appears_as_f1_and_as_em_f1(main_table, report):
    assert {"xquad F1", "xquad (EM+F1)/2"} <= set(main_table["column"])
    # (EM+F1)/2 = F1 - GAP/2: none 60 - 10 = 50; squad_v1 68 - 6 = 62, delta 62 - 50 = +12.
    assert cell(main_table, "none", "xquad (EM+F1)/2")["mean"] == pytest.approx(50.0)
    squad = cell(main_table, "squad_v1", "xquad (EM+F1)/2")
    assert (squad["mean"], squad["delta"]) == pytest.approx((62.0, 12.0))
    header = (report[0] / "main_table.md").read_text().splitlines()
    assert any("xquad F1" in line and "xquad (EM+F1)/2" in line for line in header)


def test_both_averages(main_table):
    # XTREME (F1 for QA): none (70 + 60) / 2 = 65, per seed 64 and 66 -> std sqrt(2).
    none = cell(main_table, "none", AVG_XTREME)
    assert (none["mean"], none["std"]) == pytest.approx((65.0, SQRT2), abs=1e-4)
    # mnli (74 + 63) / 2 = 68.5, delta +3.5; squad_v1 (71 + 68) / 2 = 69.5, delta +4.5.
    assert cell(main_table, "mnli", AVG_XTREME)[["mean", "delta"]].tolist() == pytest.approx([68.5, 3.5])
    assert cell(main_table, "squad_v1", AVG_XTREME)[["mean", "delta"]].tolist() == pytest.approx([69.5, 4.5])
    # jiant ((EM+F1)/2 for QA): none (70 + 50) / 2 = 60; mnli (74 + 55) / 2 = 64.5, delta +4.5;
    # squad_v1 (71 + 62) / 2 = 66.5, delta +6.5, std 2 * sqrt(2).
    assert cell(main_table, "none", AVG_JIANT)["mean"] == pytest.approx(60.0)
    assert cell(main_table, "mnli", AVG_JIANT)[["mean", "delta"]].tolist() == pytest.approx([64.5, 4.5])
    squad = cell(main_table, "squad_v1", AVG_JIANT)
    assert squad[["mean", "std", "delta"]].tolist() == pytest.approx([66.5, 2 * SQRT2, 6.5], abs=1e-4)


def test_markdown_cells_are_formatted_with_one_decimal(report):
    markdown = (report[0] / "main_table.md").read_text()
    # none row: xnli, xquad F1, xquad (EM+F1)/2, avg XTREME, avg jiant.
    assert "| none | 70.0 ± 1.4 | 60.0 ± 1.4 | 50.0 ± 1.4 | 65.0 ± 1.4 | 60.0 ± 1.4 |" in markdown
    # Two seeds each: Welch intervals of +-6.9 (test_stats.py), every one containing 0.
    assert "| mnli | _+4.0 ± 6.9_ | _+3.0 ± 6.9_ | _+5.0 ± 6.9_ | _+3.5 ± 6.9_ | _+4.5 ± 6.9_ |" in markdown


def test_per_language_table(report):
    out_dir = report[0]
    table = pd.read_csv(out_dir / "per_language.csv")
    xnli = table[(table["bench"] == "xnli") & (table["recipe"] == "none")]
    assert list(xnli["lang"]) == ["en", "de", "fr"]
    # none/xnli/en: seeds 70 + 3 - 1 = 72 and 70 + 3 + 1 = 74 -> mean 73; mnli/en: 77, delta +4.
    assert xnli.iloc[0]["mean"] == pytest.approx(73.0)
    mnli_en = table[(table["bench"] == "xnli") & (table["recipe"] == "mnli") & (table["lang"] == "en")].iloc[0]
    assert (mnli_en["mean"], mnli_en["delta"]) == pytest.approx((77.0, 4.0))
    markdown = (out_dir / "per_language.md").read_text()
    assert "| recipe | en | de | fr |" in markdown
    assert "| mnli | 77.0 (+4.0) | 74.0 (+4.0) | 71.0 (+4.0) |" in markdown


def test_latex_uses_booktabs_and_escapes(report):
    for name in ("main_table.tex", "per_language.tex"):
        latex = (report[0] / name).read_text()
        assert all(rule in latex for rule in (r"\toprule", r"\midrule", r"\bottomrule")), name
        assert r"squad\_v1" in latex and "squad_v1" not in latex.replace(r"squad\_v1", ""), name
    assert r"70.0 $\pm$ 1.4" in (report[0] / "main_table.tex").read_text()


def test_index_links_every_file(report):
    index = (report[0] / "index.md").read_text()
    assert index.startswith("# xstilts test report")
    for name in REPORT_FILES:
        if name != "index.md":
            assert f"]({name})" in index, name
    assert "None: every cell has results from every seed." in index


def test_missing_cell_is_reported_not_fatal(tmp_path):
    results = make_results(skip={("squad_v1", "xnli")})
    write_report(results, {}, tmp_path, **OPTIONS)
    table = pd.read_csv(tmp_path / "main_table.csv")
    missing = cell(table, "squad_v1", "xnli")
    assert missing["n_seeds"] == 0 and pd.isna(missing["mean"]) and pd.isna(missing["delta"])
    assert pd.isna(cell(table, "squad_v1", AVG_XTREME)["mean"])  # no seed has every benchmark
    assert cell(table, "squad_v1", "xquad F1")["mean"] == pytest.approx(68.0)
    markdown = (tmp_path / "main_table.md").read_text()
    assert "| squad_v1 | – | 68.0 ± 2.8 | 62.0 ± 2.8 | – | – |" in markdown
    index = (tmp_path / "index.md").read_text()
    assert "- demo-tiny / squad_v1 / xnli: no seed has results" in index
    assert f"- demo-tiny / squad_v1 / {AVG_XTREME}: no seed has results on every benchmark" in index


def test_seed_missing_a_language_is_left_out_and_reported(tmp_path):
    results = [r for r in make_results() if not (r["recipe"] == "mnli" and r["bench"] == "xnli"
                                                 and r["seed"] == 2 and r["lang"] == "fr")]
    write_report(results, TRAIN_LOGS, tmp_path, **OPTIONS)
    table = pd.read_csv(tmp_path / "main_table.csv")
    # Only seed 1 counts: 74 - 0.5 = 73.5, one seed, so no std.
    mnli = cell(table, "mnli", "xnli")
    assert mnli["n_seeds"] == 1 and mnli["mean"] == pytest.approx(73.5) and pd.isna(mnli["std"])
    index = (tmp_path / "index.md").read_text()
    assert "mnli / xnli: seed 2 lacks fr; that seed is left out" in index
    assert "mnli / xnli: 1 of 2 seeds has results" in index


def test_single_seed_shows_the_mean_alone(tmp_path):
    write_report(make_results(seeds=(1,)), {}, tmp_path, **OPTIONS)
    table = pd.read_csv(tmp_path / "main_table.csv")
    assert table["std"].isna().all() and (table["n_seeds"] == 1).all()
    # none/xnli seed 1: 70 - 1 = 69.
    assert "| none | 69.0 |" in (tmp_path / "main_table.md").read_text()


def test_several_models_get_one_block_each(tmp_path):
    results = make_results() + [make_result("none", "xnli", 1, lang, model="xlmr-base") for lang in LANGS]
    write_report(results, TRAIN_LOGS, tmp_path, **OPTIONS)
    table = pd.read_csv(tmp_path / "main_table.csv")
    assert list(dict.fromkeys(table["model"])) == ["demo-tiny", "xlmr-base"]
    markdown = (tmp_path / "main_table.md").read_text()
    assert "### demo-tiny" in markdown and "### xlmr-base" in markdown


def test_load_results_reads_every_language_of_a_scores_file_and_names_a_bad_one(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"results": [make_result("none", "xnli", 1, lang) for lang in ("en", "de")]}))
    assert [(r["lang"], r["score"]) for r in load_results([good])] == [("en", pytest.approx(72.0)),
                                                                        ("de", pytest.approx(make_result("none", "xnli", 1, "de")["score"]))]
    result = make_result("none", "xnli", 1, "en")
    del result["score"]
    bad = tmp_path / "no_score.json"
    bad.write_text(json.dumps({"results": [make_result("none", "xnli", 1, "de"), result]}))
    with pytest.raises(ValueError, match=r"no_score\.json, result 2: missing required key 'score'"):
        load_results([good, bad])
    per_language = tmp_path / "per_language.json"  # the layout before one scores file per job
    per_language.write_text(json.dumps(make_result("none", "xnli", 1, "en")))
    with pytest.raises(ValueError, match=r"per_language\.json: expected .* list of results under 'results'"):
        load_results([per_language])


def test_qa_result_without_exact_match_is_rejected(tmp_path):
    results = make_results()
    del results[-1]["metrics"]["exact_match"]
    with pytest.raises(ValueError, match="exact_match"):
        write_report(results, {}, tmp_path, **OPTIONS)


def test_load_train_logs(tmp_path):
    path = tmp_path / "log.jsonl"
    lines = TRAIN_LOGS["intermediate/mnli/seed1"]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    assert load_train_logs({"intermediate/mnli/seed1": path}) == {"intermediate/mnli/seed1": lines}


def test_interrupted_report_leaves_no_index_and_no_temporary_files(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def fail(figure, *args, **options):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(Figure, "savefig", fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        write_report(make_results(), TRAIN_LOGS, tmp_path, **OPTIONS)
    # The tables were written before the figures; the index, written last, is absent.
    names = sorted(path.name for path in tmp_path.iterdir())
    assert "index.md" not in names and "main_table.csv" in names
    assert not [name for name in names if name.endswith(".tmp")]


def test_a_cell_the_config_does_not_run_is_named_so_not_missing():
    from xstilts.report.grid import _cell_issues

    main = pd.DataFrame([{"model": "m", "recipe": "mnli", "column": "panx", "bench": "panx", "kind": "score",
                          "n_seeds": 0},
                         {"model": "m", "recipe": "mnli", "column": "xnli", "bench": "xnli", "kind": "score",
                          "n_seeds": 0}])
    issues = _cell_issues(main, {"m": 1}, {("m", "mnli", "panx"): ("panx", "targets.panx.recipes or recipes.mnli.targets")})
    assert [i["problem"] for i in issues] == [
        "not run: panx is not trained after this recipe (targets.panx.recipes or recipes.mnli.targets)",
        "no seed has results"]
    # Another model's cell left out is not this one's.
    assert [i["problem"] for i in _cell_issues(main, {"m": 1}, {("m2", "mnli", "panx"): ("panx", "x")})] == \
        ["no seed has results"] * 2


def test_a_model_that_runs_some_recipes_has_their_rows_only(tmp_path):
    """models.<m>.recipes: the second size's tables hold its own recipes; a recipe it runs without
    results is still a missing cell, and its benchmark left out is named with the setting."""
    small = [{**r, "model": "small"} for r in make_results(skip={("squad_v1", "xquad"), ("squad_v1", "xnli"),
                                                                  ("mnli", "xquad")})]
    write_report(make_results() + small, TRAIN_LOGS, tmp_path, **OPTIONS,
                 model_recipes={MODEL: list(BASE), "small": ["none", "mnli"]},
                 not_crossed={("small", recipe, "xquad"): ("squad_v1", "models.small.targets")
                              for recipe in ("none", "mnli")})
    main = (tmp_path / "main_table.md").read_text()
    table = pd.read_csv(tmp_path / "main_table.csv")
    rows = {model: list(dict.fromkeys(mine["recipe"])) for model, mine in table.groupby("model")}
    assert rows == {MODEL: ["none", "squad_v1", "mnli"], "small": ["none", "mnli"]}
    small_table = main.split("### small")[1].split("Change against")[0]
    assert "| none |" in small_table and "| mnli |" in small_table and "squad_v1 |" not in small_table
    assert "- small / mnli / xquad F1: not run: squad_v1 is not trained after this recipe (models.small.targets)" in main
    assert "small / squad_v1" not in main


def test_a_further_target_of_a_benchmark_gets_rows_of_its_own(tmp_path):
    """mnli_mt feeds xnli beside mnli, trained after `none` only: its scores (10 points above the
    English target's in every cell) are the row `none / mnli_mt`, with xnli alone and no averages
    named missing; they never enter `none`'s own xnli cell."""
    direct = [{**result, "target": "mnli_mt", "score": result["score"] + 10.0,
               "metrics": {"accuracy": result["score"] + 10.0}}
              for result in make_results() if result["recipe"] == "none" and result["bench"] == "xnli"]
    paths = []
    for number, chunk in enumerate((make_results(), direct)):
        paths.append(tmp_path / f"scores{number}.json")
        paths[-1].write_text(json.dumps({"results": chunk}))
    further = {("mnli_mt", "xnli")}
    out = tmp_path / "report"
    write_report(load_results(paths, further), {}, out, **OPTIONS, further_targets=further)
    table = pd.read_csv(out / "main_table.csv")
    assert list(dict.fromkeys(table["recipe"])) == ["none", "none / mnli_mt", "squad_v1", "mnli"]
    assert cell(table, "none", "xnli")["mean"] == pytest.approx(70.0)
    direct_row = cell(table, "none / mnli_mt", "xnli")
    assert (direct_row["mean"], direct_row["delta"]) == pytest.approx((80.0, 10.0))
    assert cell(table, "none / mnli_mt", "xquad F1")["n_seeds"] == 0
    index = (out / "index.md").read_text()
    assert "none / mnli_mt" not in index.split("## Missing cells")[-1]  # nothing of it is missing
    per_language = (out / "per_language.md").read_text()
    xnli, xquad = per_language.split("### demo-tiny: xquad")
    assert "| none / mnli_mt | 83.0 (+10.0) |" in xnli and "mnli_mt" not in xquad
    # Without the further targets, the two targets' results of (none, xnli) collide.
    with pytest.raises(ValueError, match="several results for"):
        write_report(load_results(paths), {}, tmp_path / "collided", **OPTIONS)
