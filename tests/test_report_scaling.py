"""The report's Q-scale section: which recipes are compared across sizes, each model's mean and
seed spread, each larger model against the smallest with a paired interval, the answer, the files."""

from __future__ import annotations


import numpy as np
import pytest
from transformers import XLMRobertaConfig, XLMRobertaModel

from xstilts.layout import SCALING_FILES
from xstilts.report import write_report
from xstilts.report.scaling import parameter_counts, q_scale, scale_tables, scaled

from test_report_robust_intermediate import evaluation, first

PARAMETERS = {"small": 1_000_000, "large": 4_000_000}


def study(right: dict[tuple[str, str], tuple[int, int]], seeds=(1, 2, 3)) -> dict:
    """(model, recipe) -> examples right of 100 in each of en and de, clean and under `typos`; a seed
    moves both by its number (seed spread)."""
    found = {}
    for (model, recipe), (clean, typos) in right.items():
        for seed in seeds:
            for condition, k in (("clean", clean), ("typos", typos)):
                found[(model, recipe, "xnli", condition, seed)] = evaluation({"en": first(k + seed), "de": first(k - 10 + seed)})
    return found


def test_a_recipe_is_compared_across_the_models_it_is_scored_on_smallest_first():
    evaluations = study({("large", "mnli"): (80, 70), ("small", "mnli"): (60, 40), ("small", "none"): (50, 30)})
    assert scaled(evaluations, PARAMETERS) == [("xnli", "mnli", ["small", "large"])]
    assert scaled(evaluations, {"small": 1}) == [], "a model without a size is not placed"


def test_each_model_has_its_mean_and_spread_and_the_larger_one_its_paired_difference():
    evaluations = study({("small", "mnli"): (60, 40), ("large", "mnli"): (80, 75)})
    sizes, changes = scale_tables(evaluations, PARAMETERS)
    english = sizes[(sizes["group"] == "English") & (sizes["condition"] == "clean")].set_index("model")
    assert english.loc["small", "mean"] == pytest.approx(62.0) and english.loc["large", "mean"] == pytest.approx(82.0)
    assert english.loc["small", "sd"] == pytest.approx(1.0) and english.loc["small", "seeds"] == 3
    drop = changes[(changes["group"] == "non-English") & (changes["condition"] == "typos")].iloc[0]
    # small drops 20 points, large 5, on the same examples: -15, an interval far from 0
    assert (drop.model, drop.against, drop.measure) == ("large", "small", "drop")
    assert drop.setting_value == pytest.approx(5.0) and drop.against_value == pytest.approx(20.0)
    assert drop.difference == pytest.approx(-15.0) and drop.high < -5 and drop.interval == "paired examples+seeds"
    answer = q_scale(changes)
    assert "large (4.0M) against small (1.0M)" in answer and "drop under typos 5.0 against 20.0, -15.0" in answer
    assert "(loses less)" in answer and "(higher)" in answer
    assert "it has more to lose before chance: a larger drop may be that alone" in answer


def test_a_smaller_drop_from_a_lower_clean_score_is_said_to_start_lower():
    """The larger model nearer chance loses less under typos: the answer says its drop starts lower."""
    evaluations = study({("small", "mnli"): (80, 60), ("large", "mnli"): (45, 40)})
    answer = q_scale(scale_tables(evaluations, PARAMETERS)[1])
    assert "(lower)" in answer and "(loses less)" in answer
    assert "Its clean score is lower, so it has less to lose before chance: a smaller drop may be that alone." in answer
    alike = q_scale(scale_tables(study({("small", "mnli"): (60, 40), ("large", "mnli"): (60, 40)}), PARAMETERS)[1])
    assert "to lose before chance" not in alike


def test_no_difference_is_read_where_sizes_score_alike():
    evaluations = study({("small", "mnli"): (60, 40), ("large", "mnli"): (60, 40)})
    _, changes = scale_tables(evaluations, PARAMETERS)
    assert np.allclose(changes["difference"], 0.0) and (changes["low"] <= 0).all() and (changes["high"] >= 0).all()
    assert "(cannot be told from noise)" in q_scale(changes) and "(higher)" not in q_scale(changes)


def test_parameters_are_counted_from_each_models_config(tmp_path):
    config = XLMRobertaConfig(vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=130, type_vocab_size=1)
    config.to_json_file(tmp_path / "config.json")
    expected = sum(p.numel() for p in XLMRobertaModel(config, add_pooling_layer=False).parameters())
    assert parameter_counts({"tiny": tmp_path / "config.json"}) == {"tiny": expected}


@pytest.mark.parametrize("parameters, written", [(PARAMETERS, True), ({"small": 1_000_000}, False)])
def test_the_section_is_written_with_two_models_or_more(tmp_path, parameters, written):
    evaluations = study({("small", "mnli"): (60, 40), ("large", "mnli"): (80, 75)})
    results = [{"model": m, "recipe": r, "target": "mnli", "bench": b, "lang": lang, "seed": seed, "score": e.scores[lang],
                "metrics": {}} for (m, r, b, c, seed), e in evaluations.items() if c == "clean" for lang in e.scores]
    files = write_report(results, {}, tmp_path, recipe_order=["none", "mnli"], bench_order=["xnli"], qa_benches=[],
                         title="t", perturbed=evaluations, parameters=parameters)
    names = {path.name for path in files}
    assert (set(SCALING_FILES) <= names) == written and all((tmp_path / name).exists() == written for name in SCALING_FILES)
    index = (tmp_path / "index.md").read_text()
    assert ("## Model size (Q-scale)" in index) == written
    if written:
        assert "| `mnli` | large | 4.0M | 3 |" in (tmp_path / "q_scale.md").read_text()


def test_an_attacks_transfer_set_is_left_out_across_sizes(tmp_path):
    """hotflip's texts made against the small model: on it they are its own attack, on the large one a
    carried-over set, so a drop across sizes would compare the two; the section leaves the set out."""
    from xstilts.report.scaling import write_section

    evaluations = study({("small", "mnli"): (60, 40), ("large", "mnli"): (80, 75)})
    for (model, recipe, bench, condition, seed), found in list(evaluations.items()):
        if condition == "typos":
            evaluations[(model, recipe, bench, "flip-transfer", seed)] = found
    _, every = scale_tables(evaluations, PARAMETERS)
    assert "flip-transfer" in set(every["condition"])
    _, kept = scale_tables(evaluations, PARAMETERS, left_out=["flip-transfer"])
    assert set(kept["condition"]) == {"clean", "typos"}
    answer = write_section(evaluations, tmp_path, parameters=PARAMETERS,
                           transfers={"flip-transfer": "`mnli` (seed 1, small)"})
    assert "flip-transfer" not in answer and "under typos" in answer
    assert "Left out: the attacks' transfer sets (flip-transfer, against `mnli` (seed 1, small))" in \
        (tmp_path / "q_scale.md").read_text()
