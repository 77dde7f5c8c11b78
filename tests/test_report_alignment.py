"""The Q-align section (xstilts.report.alignment) on constructed measures: which checkpoint is
compared with which, the paired comparison of drops per layer, and what the answer says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xstilts.alignment.measures import HIT_MEASURES
from xstilts.alignment.stage import hit_key, write_hits, write_measures
from xstilts.layout import ALIGNMENT_FILES
from xstilts.report import alignment

LANGS = ("en", "de", "ru")
SENTENCES = 200


def checkpoint_hits(clean_rate: float, perturbed_rate: float, *, layers: int = 2, seed: int = 0) -> dict:
    """Hits of one checkpoint on set `tatoeba`: clean and `typos`, the same share for every measure
    and layer, drawn per sentence (perturbed hits a subset of the clean ones: the sentences pair)."""
    rng = np.random.default_rng(seed)
    hits = {}
    for lang in LANGS:
        clean = rng.random(SENTENCES) < clean_rate
        kept = clean & (rng.random(SENTENCES) < perturbed_rate / clean_rate)
        for measure in HIT_MEASURES:
            hits[hit_key("tatoeba", "clean", lang, measure)] = np.stack([clean] * layers)
            hits[hit_key("tatoeba", "typos", lang, measure)] = np.stack([kept] * layers)
    return hits


def records_of(hits: dict, layers: int = 2) -> list[dict]:
    rows = []
    for condition in ("clean", "typos"):
        for lang in LANGS:
            for layer in range(layers):
                found = {m: 100.0 * hits[hit_key("tatoeba", condition, lang, m)][layer].mean() for m in HIT_MEASURES}
                rows.append({"set": "tatoeba", "condition": condition, "lang": lang, "layer": layer,
                             "sentences": SENTENCES, "cka": 0.5, **found, "margin": 0.1, "centred_margin": 0.2})
    return rows


def study(tmp_path, rates: dict[str, tuple[float, float]], seeds=(1,)):
    """Write measures and hits files for recipes -> (clean rate, perturbed rate); return the paths."""
    measures, hits = [], []
    for recipe, (clean, perturbed) in rates.items():
        for seed in seeds:
            found = checkpoint_hits(clean, perturbed, seed=seed * 100 + len(recipe))
            folder = tmp_path / "results/align/m" / recipe / "encoder" / f"seed{seed}"
            write_measures(folder / "measures.csv", records_of(found))
            write_hits(folder / "retrieval_hits.npz", found)
            measures.append(folder / "measures.csv")
            hits.append(folder / "retrieval_hits.npz")
    return measures, hits


def test_a_recipe_is_compared_with_nones_checkpoint_of_its_stage():
    measures = pd.DataFrame({"model": ["m"] * 5, "recipe": ["none", "mnli", "mnli", "none", "multi"],
                             "target": ["encoder", "encoder", "xnli", "xnli", "pawsx"]})
    assert alignment.comparisons(measures) == [("m", "encoder", "mnli", "encoder"), ("m", "xnli", "mnli", "xnli")]


def test_sentence_scores_average_the_two_directions_over_the_other_languages():
    hits = {hit_key("s", "clean", lang, m): np.array([[1, 0, 1]], dtype=bool) for lang in ("de",) for m in HIT_MEASURES}
    hits[hit_key("s", "clean", "de", "centred_retrieval_xx_to_en")] = np.array([[0, 0, 1]], dtype=bool)
    assert alignment.sentence_scores(hits, "s", "clean", ["de"], 0).tolist() == [0.5, 0.0, 1.0]


def test_a_recipe_whose_alignment_drops_less_is_more_stable_beyond_noise(tmp_path):
    measures_files, hits_files = study(tmp_path, {"none": (0.9, 0.4), "mnli": (0.9, 0.85)}, seeds=(1, 2))
    measures = alignment.load_measures(measures_files)
    compared = alignment.compare_layers(measures, alignment.load_hits(hits_files), None)
    typos = compared[compared["condition"] == "typos"]
    assert list(typos["layer"]) == [0, 1]
    assert (typos["difference"] < -30).all() and (typos["high"] < 0).all()  # mnli drops ~5 points, none ~50
    assert set(typos["interval"]) == {"examples+seeds"}
    clean = compared[compared["condition"] == "clean"]
    assert ((clean["low"] <= 0) & (clean["high"] >= 0)).all()  # the same clean rate: not told apart
    text = alignment.answer(compared, "")
    assert "instability under typos: more stable (it drops less) at layers 0" in text
    assert "clean alignment: not told from noise at layers 0" in text


def test_one_seed_without_a_measured_spread_has_no_interval_and_says_so(tmp_path):
    measures_files, hits_files = study(tmp_path, {"none": (0.9, 0.4), "mnli": (0.9, 0.85)})
    written = alignment.write_section(tmp_path / "report", measures_files, hits_files, None)
    assert [p.name for p in written] == list(ALIGNMENT_FILES) and all(p.exists() for p in written)
    table = pd.read_csv(tmp_path / "report" / "q_align.csv")
    assert table["low"].isna().all() and set(table["interval"]) == {"none: one seed and no report.seed_spread"}
    text = (tmp_path / "report" / "alignment.md").read_text()
    assert "no interval" in text and "has no Tatoeba column" in text


def test_one_seed_takes_the_tatoeba_spread_and_names_the_assumption(tmp_path):
    measures_files, hits_files = study(tmp_path, {"none": (0.9, 0.4), "mnli": (0.9, 0.85)})
    alignment.write_section(tmp_path / "report", measures_files, hits_files, {"tatoeba": (1.0, 8.0)})
    table = pd.read_csv(tmp_path / "report" / "q_align.csv")
    typos = table[table["condition"] == "typos"]
    assert (typos["high"] < 0).all() and set(typos["interval"]) == {"examples+seed spread"}
    assert "which is an assumption" in (tmp_path / "report" / "alignment.md").read_text()
    curves = pd.read_csv(tmp_path / "report" / "alignment_layers.csv")
    none_clean = curves[(curves["recipe"] == "none") & (curves["condition"] == "clean")]
    assert none_clean["centred retrieval (%)"].between(80, 100).all()  # the other languages' mean, in points


def test_a_checkpoint_missing_its_hits_is_named(tmp_path):
    measures_files, hits_files = study(tmp_path, {"none": (0.9, 0.4), "mnli": (0.9, 0.85)})
    with pytest.raises(ValueError, match="no retrieval hits for checkpoint m/mnli/encoder"):
        alignment.compare_layers(alignment.load_measures(measures_files), alignment.load_hits(hits_files[:1]), None)


def test_target_checkpoints_are_counted_over_targets_and_layers():
    rows = [("encoder", "typos", 0, -5.0, -8.0, -2.0), ("xnli", "typos", 0, 4.0, 1.0, 7.0),
            ("xnli", "typos", 1, 0.5, -2.0, 3.0), ("pawsx", "typos", 0, -3.0, -5.0, -1.0)]
    compared = pd.DataFrame([{"model": "m", "set": "tatoeba", "stage": stage, "recipe": "mnli", "against": "none",
                              "condition": condition, "layer": layer, "setting_value": 0.0, "against_value": 0.0,
                              "difference": d, "low": low, "high": high, "interval": "examples+seeds"}
                             for stage, condition, layer, d, low, high in rows])
    text = alignment.answer(compared, "")
    assert "instability under typos: more stable (it drops less) at layers 0 (-5.0 [-8.0, -2.0])." in text
    assert ("after target training (`xnli`, `pawsx`)" in text and "of 3 cells, less stable in 1 (xnli layer 0 (+4.0)); "
            "more stable in 1 (pawsx layer 0 (-3.0)); not told from noise in 1." in text)


def test_alignment_is_correlated_with_the_zero_shot_scores_of_the_same_checkpoints():
    """Per language and target checkpoint: higher clean alignment, higher score (rho 1); the drop
    under a perturbation runs the other way (rho -1); the encoder's rows and English are left out."""
    rows, scores = [], []
    for recipe, offset in (("none", 0.0), ("mnli", 5.0)):
        for i, lang in enumerate(("en", "de", "ru", "ar", "zh")):
            clean = 40.0 + 10 * i + offset
            for target in ("encoder", "mnli"):
                for condition, value in (("clean", clean), ("typos", clean - 20 + 2 * i)):
                    rows.append({"model": "m", "recipe": recipe, "target": target, "seed": 1, "set": "tatoeba",
                                 "lang": lang, "layer": 0, "condition": condition,
                                 **{m: value for m in alignment.HITS}})
            scores.append({"model": "m", "recipe": recipe, "target": "mnli", "bench": "xnli", "seed": 1,
                           "lang": lang, "score": 50.0 + 10 * i + offset})
    scores.append({**scores[-1], "target": "encoder", "bench": "tatoeba", "score": 0.0})
    found = alignment.correlations(pd.DataFrame(rows), pd.DataFrame(scores))
    assert set(found["bench"]) == {"xnli"} and set(found["points"]) == {8}  # 2 recipes x 4 languages
    by_kind = {(r.alignment, r.condition): r for r in found.itertuples()}
    assert by_kind[("clean", "clean")].spearman == pytest.approx(1.0)
    assert by_kind[("drop", "typos")].spearman < -0.9  # languages tie across the two recipes
    assert by_kind[("perturbed", "typos")].spearman == pytest.approx(1.0)
    low, high = by_kind[("clean", "clean")].low, by_kind[("clean", "clean")].high
    assert 0 < low < 1 and high == pytest.approx(1.0)


def cka_measures(values: dict[tuple[str, int], tuple[float, float]]) -> pd.DataFrame:
    """Measures of set `tatoeba` at one layer: (recipe, seed) -> (clean CKA, CKA under `typos`), the
    same in both other languages, and English's own rows (which CKA never reads) far off."""
    rows = []
    for (recipe, seed), (clean, perturbed) in values.items():
        for lang in LANGS:
            for condition, cka in (("clean", clean), ("typos", perturbed)):
                rows.append({"model": "m", "recipe": recipe, "target": "encoder", "seed": seed, "set": "tatoeba",
                             "condition": condition, "lang": lang, "layer": 0, "cka": 9.0 if lang == "en" else cka})
    return pd.DataFrame(rows)


def test_cka_changes_take_their_interval_from_the_seeds_and_have_none_with_one():
    from xstilts.stats import welch_half_width

    mnli = {1: (0.70, 0.60), 2: (0.74, 0.62), 3: (0.72, 0.66)}
    none = {1: (0.60, 0.50), 2: (0.60, 0.52), 3: (0.61, 0.50)}
    values = {**{("mnli", s): v for s, v in mnli.items()}, **{("none", s): v for s, v in none.items()}}
    changes = alignment.cka_changes(cka_measures(values)).set_index("condition")
    clean, drop = changes.loc["clean"], changes.loc["typos"]
    assert clean["difference"] == pytest.approx(0.72 - 0.6033333, abs=1e-6)
    half = welch_half_width(np.std([0.70, 0.74, 0.72], ddof=1), 3, np.std([0.60, 0.60, 0.61], ddof=1), 3)
    assert (clean["low"], clean["high"]) == pytest.approx((clean["difference"] - half, clean["difference"] + half))
    assert clean["low"] > 0 and clean["seeds"] == "3/3"
    # drops: mnli 0.10, 0.12, 0.06 against none's 0.10, 0.08, 0.11
    assert drop["difference"] == pytest.approx(0.0933333 - 0.0966667, abs=1e-6) and drop["low"] < 0 < drop["high"]
    one = alignment.cka_changes(cka_measures({("mnli", 1): (0.7, 0.6), ("none", 1): (0.6, 0.5)}))
    assert one["difference"].tolist() == pytest.approx([0.1, 0.0]) and one["low"].isna().all()
    table = alignment.cka_markdown(one)
    assert "| – | 1/1 |" in table and "+0.100" in table


def test_every_file_a_report_job_writes_has_its_line_in_the_index():
    """The index links each file with a description: a file added to a section without one fails the
    report job at its last step (it did, for q_align_cka.csv)."""
    from xstilts.layout import DIRECT_FILES, REPORT_FILES, ROBUSTNESS_FILES
    from xstilts.report.grid import FILE_DESCRIPTIONS

    assert set(REPORT_FILES + ROBUSTNESS_FILES + DIRECT_FILES + ALIGNMENT_FILES) - {"index.md"} <= set(FILE_DESCRIPTIONS)


def test_a_multi_seed_runs_cells_give_each_layer_its_own_spread_which_a_single_seed_run_takes(tmp_path):
    """q_align_seeds.csv holds, per checkpoint and (set, condition, layer), the section's measure over
    seeds; `python -m xstilts.stats` pools it into spread columns; a single-seed comparison then takes
    its own column's spread, and the Tatoeba score's only where none was measured, saying which."""
    from xstilts import stats

    measures_files, hits_files = study(tmp_path / "five", {"none": (0.9, 0.4), "mnli": (0.9, 0.85)}, seeds=(1, 2, 3))
    alignment.write_section(tmp_path / "five/report", measures_files, hits_files, None)
    cells = pd.read_csv(tmp_path / "five/report/q_align_seeds.csv")
    row = cells[(cells["column"] == "alignment tatoeba typos layer 1") & (cells["recipe"] == "none / encoder")].iloc[0]
    found = [checkpoint_hits(0.9, 0.4, seed=seed * 100 + 4) for seed in (1, 2, 3)]
    drops = [100.0 * np.mean(np.concatenate([
        (hits[hit_key("tatoeba", "clean", lang, HIT_MEASURES[2])][1].astype(float)
         + hits[hit_key("tatoeba", "clean", lang, HIT_MEASURES[3])][1]) / 2
        - (hits[hit_key("tatoeba", "typos", lang, HIT_MEASURES[2])][1].astype(float)
           + hits[hit_key("tatoeba", "typos", lang, HIT_MEASURES[3])][1]) / 2 for lang in ("de", "ru")]))
        for hits in found]
    assert row["n_seeds"] == 3 and row["mean"] == pytest.approx(np.mean(drops))
    assert row["std"] == pytest.approx(np.std(drops, ddof=1))
    spread = stats.seed_spread(cells).set_index("column")
    assert spread.loc["alignment tatoeba typos layer 1", "df"] == 4  # two checkpoints, three seeds each

    # One seed: layer 0's drops take a measured spread of 0, layer 1's the Tatoeba score's 20 points.
    measures_files, hits_files = study(tmp_path / "one", {"none": (0.9, 0.4), "mnli": (0.9, 0.85)})
    given = {"alignment tatoeba typos layer 0": (0.0, 4.0), "tatoeba": (20.0, 8.0)}
    alignment.write_section(tmp_path / "one/report", measures_files, hits_files, given)
    table = pd.read_csv(tmp_path / "one/report/q_align.csv").set_index(["condition", "layer"])
    width = table["high"] - table["low"]
    assert width["typos", 0] < width["typos", 1] / 3
    text = (tmp_path / "one/report/alignment.md").read_text()
    assert "the seed spread of the same measure, set, condition and layer, measured over seeds" in text
    assert "the seed spread of the Tatoeba score (20.00 points" in text
