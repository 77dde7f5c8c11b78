"""Perturbations as config data and as cached stages: the plan's checks and defaults, the perturb
stage's files (deterministic per seed, rate 0 = clean, what changed recorded), one model load per
evaluation job, and the finished tiny run's perturbed sets and scores."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import yaml

from helpers import tiny_pretrained
from xstilts import evaluation, features, synthetic
from xstilts.config import CLEAN, ConfigError, Plan
from xstilts.io import read_json, read_jsonl, write_jsonl
from xstilts.robustness.codeswitch import write_dictionaries
from xstilts.robustness.perturbed_sets import perturb_file

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "tests" / "configs" / "tiny.yaml").read_text())


def plan_with(perturbations: dict, **changes) -> Plan:
    config = copy.deepcopy(TINY)
    config["perturbations"] = perturbations
    config.pop("attacks")  # the conditions are the perturbations' alone
    config.update(changes)
    return Plan(config)


# ---- config ------------------------------------------------------------------------------
def test_a_perturbation_defaults_to_every_benchmark_and_each_benchmark_lists_its_conditions():
    plan = plan_with({"typos": {"kind": "char_noise", "rate": 0.1},
                      "switched": {"kind": "codeswitch", "rate": 0.3, "benchmarks": ["xnli"],
                                   "options": {"languages": ["de"]}}})
    assert plan.perturbations["typos"]["benchmarks"] == plan.benches()
    assert plan.perturbations["typos"]["seed"] == 0
    assert plan.conditions("xnli") == [CLEAN, "typos", "switched"]
    assert plan.conditions("tatoeba") == [CLEAN, "typos"]
    assert plan.perturbed_splits()[("xnli", "test", "switched")] == ["en", "de", "zh"]


def test_a_perturbed_set_depends_on_its_settings_not_on_the_other_benchmarks_listed():
    one = plan_with({"typos": {"kind": "char_noise", "rate": 0.1, "benchmarks": ["xnli"]}})
    two = plan_with({"typos": {"kind": "char_noise", "rate": 0.1, "benchmarks": ["xnli", "panx"]}})
    assert one.perturbation_spec("typos", "xnli") == two.perturbation_spec("typos", "xnli") == {
        "kind": "char_noise", "rate": 0.1, "seed": 0, "task_type": "classification"}


@pytest.mark.parametrize("perturbation, message", [
    ({"kind": "char_noise", "rate": 0.1, "benchmarks": ["pawsx"]}, r"benchmarks: 'pawsx' is not a benchmark of this"),
    ({"kind": "codeswitch", "rate": 0.3}, r"typos.options.languages: codeswitch needs the languages"),
    ({"kind": "word_noise", "rate": 0.1, "options": {"languages": ["de"]}}, r"typos.options: languages do not apply"),
    ({"kind": "char_noise", "rate": 1.5}, r"perturbations/typos/rate"),
    ({"kind": "typo", "rate": 0.1}, r"perturbations/typos/kind"),
])
def test_a_wrong_perturbation_is_refused_by_name(perturbation, message):
    with pytest.raises(ConfigError, match=message):
        plan_with({"typos": perturbation})


def test_an_english_side_is_perturbed_only_on_parallel_sets_and_reaches_their_spec_alone():
    from xstilts import config
    from xstilts.robustness import examples

    assert config.PARALLEL_SIDES == tuple(examples.PARALLEL_SIDES)  # the sides the config accepts are the ones made
    plan = plan_with({"english_typos": {"kind": "char_noise", "rate": 0.1, "benchmarks": ["tatoeba"],
                                        "options": {"side": "english"}},
                      "typos": {"kind": "char_noise", "rate": 0.1, "benchmarks": ["tatoeba"]}})
    assert plan.perturbation_spec("english_typos", "tatoeba")["side"] == "english"
    assert "side" not in plan.perturbation_spec("typos", "tatoeba")  # the default: the sets made before sides
    with pytest.raises(ConfigError, match=r"typos.options.side: only a parallel set .* xnli is not one"):
        plan_with({"typos": {"kind": "char_noise", "rate": 0.1, "benchmarks": ["xnli", "tatoeba"],
                             "options": {"side": "both"}}})
    with pytest.raises(ConfigError, match=r"perturbations/typos/options/side"):
        plan_with({"typos": {"kind": "char_noise", "rate": 0.1, "benchmarks": ["tatoeba"], "options": {"side": "left"}}})
    with pytest.raises(ConfigError, match=r"mixed.options: side do not apply to mixed_pair"):
        plan_with({"mixed": {"kind": "mixed_pair", "options": {"side": "english"}}})


def test_clean_is_not_a_perturbation_name():
    with pytest.raises(ConfigError, match="perturbations"):
        plan_with({"clean": {"kind": "char_noise", "rate": 0.1}})


def test_codeswitch_on_data_the_generator_did_not_make_needs_a_dictionary_folder():
    config = copy.deepcopy(TINY)
    config["data"]["sources"] = {"xnli": "local"}
    config["perturbations"] = {"switched": {"kind": "codeswitch", "rate": 0.3, "benchmarks": ["xnli"],
                                            "options": {"languages": ["de"]}}}
    with pytest.raises(ConfigError, match=r"switched.options.dictionaries: xnli are not generated data"):
        Plan(config)
    config["perturbations"]["switched"]["options"]["dictionaries"] = "/data/muse"
    assert Plan(config).perturbations["switched"]["options"]["dictionaries"] == "/data/muse"


def test_mixed_pair_applies_to_pair_benchmarks_with_english_and_needs_no_rate():
    plan = plan_with({"mixed": {"kind": "mixed_pair"}})
    assert plan.perturbations["mixed"]["benchmarks"] == ["xnli"]
    assert plan.perturbations["mixed"]["options"] == {"order": "both"}
    assert plan.perturbation_spec("mixed", "xnli")["order"] == "both"
    with pytest.raises(ConfigError, match=r"mixed.benchmarks: mixed_pair does not apply to 'panx'"):
        plan_with({"mixed": {"kind": "mixed_pair", "benchmarks": ["panx"]}})
    with pytest.raises(ConfigError, match=r"noisy.rate: char_noise needs a rate"):
        plan_with({"noisy": {"kind": "char_noise"}})
    with pytest.raises(ConfigError, match=r"mixed.options: languages do not apply to mixed_pair"):
        plan_with({"mixed": {"kind": "mixed_pair", "options": {"languages": ["de"]}}})


# ---- the perturb stage -------------------------------------------------------------------
SETTINGS = {"classification": {"max_length": 96}, "tagging": {"max_length": 64}, "retrieval": {"max_length": 64},
            "multiple_choice": {"max_length": 64}, "span_qa": {"max_length": 128, "stride": 48}}
SETS = [("xnli", "nli", "classification"), ("panx", "ner", "tagging"), ("xquad", "span_qa", "span_qa"),
        ("tatoeba", "parallel", "retrieval"), ("xcopa", "multiple_choice", "multiple_choice")]


def clean_set(tmp_path: Path, bench: str, kind: str, lang: str) -> Path:
    path = tmp_path / f"{bench}-{lang}.jsonl"
    options = {"context_sentences": 3} if kind == "span_qa" else {}
    write_jsonl(path, synthetic.generate(kind, split="test", lang=lang, n=20, seed=7, stream=bench, **options))
    return path


def perturbed(tmp_path: Path, clean: Path, name: str, task_type: str, lang: str, **spec) -> tuple[list[dict], dict]:
    out, summary = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.summary.json"
    perturb_file(examples_path=clean, out=out, summary_out=summary, key=f"set/{lang}", lang=lang, task_type=task_type,
                 **spec)
    return read_jsonl(out), read_json(summary)


@pytest.mark.parametrize("bench, kind, task_type", SETS)
@pytest.mark.parametrize("noise", ["char_noise", "word_noise", "codeswitch"])
def test_a_set_is_the_same_for_its_seed_another_for_another_and_clean_at_rate_0(tmp_path, bench, kind, task_type,
                                                                               noise):
    lang = "de" if task_type == "retrieval" else "en"
    clean = clean_set(tmp_path, bench, kind, lang)
    dictionaries = tmp_path / "dictionaries"
    write_dictionaries(dictionaries, 7)
    spec = {"kind": noise, "rate": 0.3, "languages": ["ru", "zh"], "dictionaries": dictionaries}
    first, summary = perturbed(tmp_path, clean, "a", task_type, lang, seed=1, **spec)
    again, _ = perturbed(tmp_path, clean, "b", task_type, lang, seed=1, **spec)
    other, _ = perturbed(tmp_path, clean, "c", task_type, lang, seed=2, **spec)
    assert first == again and first != other
    assert summary["changed_examples"] > 0 and summary["edits"] == sum(1 for _ in edits(first))
    unchanged, summary = perturbed(tmp_path, clean, "d", task_type, lang, seed=1, **{**spec, "rate": 0.0})
    assert unchanged == [{**{k: v for k, v in row.items() if k != "protected"}, "changes": row_changes}
                         for row, row_changes in zip(read_jsonl(clean), (r["changes"] for r in unchanged))]
    assert summary["edits"] == 0 and not list(edits(unchanged))
    # What the model reads of it is the clean set's, byte for byte: the features files are equal.
    labels = {"classification": ["entailment", "neutral", "contradiction"]}.get(task_type)
    outs = [str(tmp_path / "clean.parquet"), str(tmp_path / "rate0.parquet")]
    features.tokenize(tokenizer_dir=ROOT / "pretrained" / "demo-tiny", task_type_name=task_type, labels=labels,
                      examples_paths=[str(clean), str(tmp_path / "d.jsonl")], settings=SETTINGS[task_type], outs=outs)
    assert Path(outs[0]).read_bytes() == Path(outs[1]).read_bytes()


def edits(rows: list[dict]):
    def flat(value):
        if isinstance(value, dict) and "op" in value:
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from flat(v)
        elif isinstance(value, list):
            for v in value:
                yield from flat(v)
    for row in rows:
        yield from flat(row["changes"])


def kept_words(row: dict, task_type: str) -> list[str]:
    """The texts of an example's protected spans (tokens, for tagging), in order."""
    kept = row["protected"]
    if task_type == "tagging":
        return [row["tokens"][i] for i in kept]
    if task_type == "multiple_choice":
        fields = [("context", row["context"], kept["context"])] + [
            ("choice", text, spans) for text, spans in zip(row["choices"], kept["choices"])]
    else:
        fields = [(field, row[field], kept.get(field, [])) for field in ("text_a", "text_b", "src", "question",
                                                                         "context") if row.get(field) is not None]
    return [text[start:end] for _, text, spans in fields for start, end in spans]


def in_order(words: list[str], texts: list[str]) -> bool:
    joined, at = "\n".join(texts), 0
    for word in words:
        at = joined.find(word, at)
        if at < 0:
            return False
        at += len(word)
    return True


@pytest.mark.parametrize("bench, kind, task_type", SETS)
@pytest.mark.parametrize("noise", ["char_noise", "word_noise", "codeswitch"])
def test_the_words_the_generator_marks_survive_every_kind(tmp_path, bench, kind, task_type, noise):
    """Names, numbers, negation and a pair's deciding words: still there, in order, at a high rate."""
    lang = "ru" if task_type == "retrieval" else "en"
    clean = clean_set(tmp_path, bench, kind, lang)
    dictionaries = tmp_path / "dictionaries"
    write_dictionaries(dictionaries, 7)
    rows, summary = perturbed(tmp_path, clean, "k", task_type, lang, kind=noise, rate=0.5, seed=3,
                              languages=["de", "zh"], dictionaries=dictionaries)
    assert summary["edits"] > 0
    for before, after in zip(read_jsonl(clean), rows):
        texts = after["tokens"] if task_type == "tagging" else [
            after[f] for f in ("text_a", "text_b", "src", "question", "context") if after.get(f)]
        assert in_order(kept_words(before, task_type), texts + list(after.get("choices", []))), (before, after)
        assert "protected" not in after  # its spans were of the clean text


def test_codeswitch_names_a_missing_dictionary_and_switches_into_the_others(tmp_path):
    clean = clean_set(tmp_path, "xnli", "nli", "en")
    dictionaries = tmp_path / "dictionaries"
    write_dictionaries(dictionaries, 7)
    (dictionaries / "en-ru.txt").unlink()
    rows, summary = perturbed(tmp_path, clean, "s", "classification", "en", kind="codeswitch", rate=0.5, seed=0,
                              languages=["ru", "de"], dictionaries=dictionaries)
    assert summary["missing_dictionaries"] == ["en-ru"] and summary["dictionaries"] == ["de"]
    assert {edit["lang"] for edit in edits(rows)} == {"de"}
    # Below the rate: names, numbers, negation and the words that decide the label are never switched.
    assert 0.05 < summary["edited_share"] < 0.5


@pytest.mark.parametrize("side, edited", [("other", {"src"}), ("english", {"tgt"}), ("both", {"src", "tgt"})])
@pytest.mark.parametrize("noise", ["char_noise", "word_noise", "codeswitch"])
def test_a_parallel_set_is_perturbed_on_the_side_named_with_that_sides_language(tmp_path, side, edited, noise):
    """Tatoeba's pairs (src: German, tgt: English): the side's texts are edited and the other's left
    as they were; English's words are switched with the dictionaries from English."""
    clean = clean_set(tmp_path, "tatoeba", "parallel", "de")
    dictionaries = tmp_path / "dictionaries"
    write_dictionaries(dictionaries, 7)
    (dictionaries / "de-zh.txt").unlink()
    rows, summary = perturbed(tmp_path, clean, side, "retrieval", "de", kind=noise, rate=0.5, seed=0,
                              languages=["zh", "ru"], dictionaries=dictionaries, side=side)
    originals = read_jsonl(clean)
    for field in ("src", "tgt"):
        changed = sum(row[field] != original[field] for row, original in zip(rows, originals))
        assert (changed > 5) == (field in edited), (field, changed)
    assert {field for row in rows for field in row["changes"]} == edited
    if noise == "codeswitch":  # German's side without its German-Chinese dictionary
        assert summary["missing_dictionaries"] == (["de-zh"] if "src" in edited else [])
        assert summary["dictionaries"] == {"other": ["ru"], "english": ["en-ru", "en-zh"],
                                           "both": ["de-ru", "en-ru", "en-zh"]}[side]
        into = {field: {edit["lang"] for row in rows for edit in row["changes"].get(field, [])} for field in edited}
        assert into.get("src", {"ru"}) == {"ru"} and into.get("tgt", {"ru", "zh"}) == {"ru", "zh"}
    assert summary.get("side", "other") == side


@pytest.mark.parametrize("order", ["partner_first", "partner_second", "both"])
def test_a_mixed_pair_is_one_side_english_and_the_other_the_language_of_the_same_pair(tmp_path, order):
    """The generator's languages say the same facts under the same ids: each mixed pair takes one side
    from the English pair and the other from the evaluated language's, label kept."""
    clean, english = clean_set(tmp_path, "xnli", "nli", "ru"), clean_set(tmp_path, "xnli", "nli", "en")
    rows, summary = perturbed(tmp_path, clean, "m", "classification", "ru", kind="mixed_pair", rate=None, seed=0,
                              order=order, partner_path=english)
    sides = []
    for row, ru, en in zip(rows, read_jsonl(clean), read_jsonl(english)):
        assert row["id"] == ru["id"] == en["id"] and row["label"] == ru["label"] == en["label"]
        side = "text_a" if row["text_a"] == en["text_a"] else "text_b"
        other = "text_b" if side == "text_a" else "text_a"
        assert row[side] == en[side] and row[other] == ru[other] and row[side] != ru[side]
        sides.append(side)
    expected = {"partner_first": {"text_a"}, "partner_second": {"text_b"}, "both": {"text_a", "text_b"}}[order]
    assert set(sides) == expected and summary["changed_examples"] == len(rows)


def test_a_mixed_pair_of_sets_that_are_not_parallel_is_refused(tmp_path):
    clean, english = clean_set(tmp_path, "xnli", "nli", "ru"), clean_set(tmp_path, "xnli", "nli", "en")
    rows = read_jsonl(english)
    write_jsonl(english, rows[1:] + rows[:1])  # one example moved: the labels no longer line up
    with pytest.raises(ValueError, match=r"mixed_pair set/ru \(en\): example \d+ .* the sets are not parallel"):
        perturbed(tmp_path, clean, "m", "classification", "ru", kind="mixed_pair", rate=None, seed=0,
                  order="both", partner_path=english)


# ---- evaluation --------------------------------------------------------------------------
def test_an_evaluation_job_loads_its_checkpoint_once_for_every_language(tmp_path, monkeypatch):
    model = tiny_pretrained(tmp_path / "model")
    languages = {}
    for lang in ("de", "ru", "zh"):
        clean = clean_set(tmp_path, "tatoeba", "parallel", lang)
        out = tmp_path / f"perturbed-{lang}.jsonl"
        perturb_file(examples_path=clean, out=out, summary_out=tmp_path / f"{lang}.summary.json", key=lang, lang=lang,
                     kind="char_noise", rate=0.2, seed=0, task_type="retrieval")
        languages[lang] = {"examples": str(out), "features": str(tmp_path / f"{lang}.parquet")}
        features.tokenize(tokenizer_dir=model, task_type_name="retrieval", labels=None, examples_paths=[str(out)],
                          settings={"max_length": 48}, outs=[languages[lang]["features"]])
    loads = []
    real_load = evaluation.load_for_inference
    monkeypatch.setattr(evaluation, "load_for_inference", lambda path: loads.append(path) or real_load(path))
    evaluation.evaluate(checkpoint=model, head=None, bench="tatoeba", bench_type="retrieval", metric="tatoeba",
                        retrieval_layer=1, settings={"max_length": 48}, meta={"condition": "typos", "seed": 1},
                        languages=languages, device=torch.device("cpu"), batch_size=8,
                        out={"scores": str(tmp_path / "scores.json"), "predictions": str(tmp_path / "p.jsonl")})
    results = read_json(tmp_path / "scores.json")["results"]
    assert len(loads) == 1 and [r["lang"] for r in results] == ["de", "ru", "zh"]
    assert {r["condition"] for r in results} == {"typos"}


# ---- the workflow ------------------------------------------------------------------------
@pytest.mark.slow
def test_the_tiny_run_scores_each_perturbed_set_under_its_own_condition(finished_tiny_run):
    """tests/configs/tiny.yaml perturbs XNLI and PAN-X (typos) and XNLI (switched): each set keeps
    the clean set's ids and labels, and each evaluation reads its own condition's features."""
    workdir, _ = finished_tiny_run
    results = workdir / "results"
    for bench, name in (("xnli", "typos"), ("xnli", "switched"), ("panx", "typos")):
        for lang in ("en", "de", "zh"):
            clean = read_jsonl(results / f"data/{bench}/test/{lang}.jsonl")
            noisy = read_jsonl(results / f"data/{bench}/test/{name}/{lang}.jsonl")
            label = "tags" if bench == "panx" else "label"
            assert [(r["id"], r[label]) for r in noisy] == [(r["id"], r[label]) for r in clean]
            assert any(row["changes"] != {k: [] for k in row["changes"]} for row in noisy)
        index = (results / f"features/tiny/{bench}/test/{name}/index.txt").read_text().split()
        assert index == [f"results/features/tiny/{bench}/test/{name}/{lang}.parquet" for lang in ("en", "de", "zh")]
        scores = json.loads((results / f"eval/tiny/mnli/{'mnli' if bench == 'xnli' else bench}/{bench}/{name}/seed1/"
                                       "scores.json").read_text())["results"]
        assert [(r["lang"], r["condition"]) for r in scores] == [("en", name), ("de", name), ("zh", name)]
    summary = read_json(results / "data/xnli/test/switched/en.summary.json")
    assert summary["dictionaries"] == ["de", "zh"] and summary["missing_dictionaries"] == []
    table = (results / "report/robustness_per_language.csv").read_text().splitlines()
    assert len(table) == 1 + 7 * 3 * 3  # (xnli typos, switched, mixed, probe, flip, flip-transfer; panx typos) x 3 x 3
    mixed = read_jsonl(results / "data/xnli/test/mixed/zh.jsonl")
    english = read_jsonl(results / "data/xnli/test/en.jsonl")
    assert all(row["text_a"] == en["text_a"] or row["text_b"] == en["text_b"] for row, en in zip(mixed, english))
    assert "## Robustness (Q-adv)" in (results / "report/index.md").read_text()


def test_codeswitch_without_its_dictionary_folder_fails_by_name_and_writes_nothing(tmp_path):
    clean = clean_set(tmp_path, "xnli", "nli", "en")
    with pytest.raises(FileNotFoundError, match=r"codeswitch: no dictionary folder /no/such/muse"):
        perturbed(tmp_path, clean, "s", "classification", "en", kind="codeswitch", rate=0.3, seed=0,
                  languages=["de"], dictionaries="/no/such/muse")
    assert not (tmp_path / "s.jsonl").exists() and not (tmp_path / "s.summary.json").exists()


# ---- local challenge sets ----------------------------------------------------------------
def test_a_local_challenge_set_needs_its_files_and_may_cover_some_languages():
    plan = plan_with({"adv": {"kind": "local", "benchmarks": ["xnli"],
                              "options": {"path": "/data/adv/{bench}/{lang}.jsonl", "languages": ["de", "fr"]}}})
    assert plan.perturbed_splits()[("xnli", "test", "adv")] == ["de"]
    assert plan.perturbation_spec("adv", "xnli")["labels"] == ["entailment", "neutral", "contradiction"]
    with pytest.raises(ConfigError, match=r"adv.options.path: a local challenge set needs its files"):
        plan_with({"adv": {"kind": "local"}})
    with pytest.raises(ConfigError, match=r"adv.options.languages: none of them is a test language of 'xnli'"):
        plan_with({"adv": {"kind": "local", "benchmarks": ["xnli"], "options": {"path": "x", "languages": ["fr"]}}})


def test_a_local_challenge_set_is_read_in_the_clean_order_with_what_it_changed(tmp_path):
    clean = clean_set(tmp_path, "xnli", "nli", "de")
    rows = read_jsonl(clean)
    challenge = [{**row, "text_b": row["text_b"].upper()} if i % 2 else row for i, row in enumerate(rows)][::-1]
    path = tmp_path / "adv" / "xnli-de.jsonl"
    path.parent.mkdir()
    write_jsonl(path, [{k: v for k, v in row.items() if k != "protected"} for row in challenge])
    out, summary = perturbed(tmp_path, clean, "l", "classification", "de", kind="local", rate=None, seed=0,
                             local_path=path, labels=["entailment", "neutral", "contradiction"])
    assert [row["id"] for row in out] == [row["id"] for row in rows]
    assert all(row["text_b"] == (clean_row["text_b"].upper() if i % 2 else clean_row["text_b"])
               for i, (row, clean_row) in enumerate(zip(out, rows)))
    assert summary["changed_examples"] == len(rows) // 2


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows[1:], r"missing ids \['xnli-test-0'\]"),
    (lambda rows: rows + [{**rows[0], "id": "new"}], r"unknown ids \['new'\]"),
    (lambda rows: [{**rows[0], "label": next(l for l in ("entailment", "neutral") if l != rows[0]["label"])}]
     + rows[1:], r"example xnli-test-0 has label .* a challenge set keeps the gold labels"),
])
def test_a_local_challenge_set_of_other_examples_or_labels_is_refused(tmp_path, change, message):
    clean = clean_set(tmp_path, "xnli", "nli", "de")
    path = tmp_path / "adv.jsonl"
    write_jsonl(path, change([{k: v for k, v in row.items() if k != "protected"} for row in read_jsonl(clean)]))
    with pytest.raises(ValueError, match=message):
        perturbed(tmp_path, clean, "l", "classification", "de", kind="local", rate=None, seed=0, local_path=path,
                  labels=["entailment", "neutral", "contradiction"])
    assert not (tmp_path / "l.jsonl").exists()


def test_mixed_pair_partners_are_one_condition_each_the_language_by_language_table():
    plan = plan_with({"mixed": {"kind": "mixed_pair", "options": {"partners": ["en", "de"]}}})
    assert plan.conditions("xnli") == [CLEAN, "mixed-en", "mixed-de"]
    assert plan.perturbation_spec("mixed-de", "xnli")["partner"] == "de"
    assert plan.perturbations["mixed-de"]["base"] == "mixed"
    with pytest.raises(ConfigError, match=r"mixed_pair does not apply to 'xnli' .*test languages en, fr"):
        plan_with({"mixed": {"kind": "mixed_pair", "benchmarks": ["xnli"], "options": {"partners": ["en", "fr"]}}})


def test_a_mixed_pair_takes_its_other_side_from_the_partner_language(tmp_path):
    clean, german = clean_set(tmp_path, "xnli", "nli", "ru"), clean_set(tmp_path, "xnli", "nli", "de")
    rows, _ = perturbed(tmp_path, clean, "m", "classification", "ru", kind="mixed_pair", rate=None, seed=0,
                        order="partner_second", partner="de", partner_path=german)
    assert [row["text_b"] for row in rows] == [row["text_b"] for row in read_jsonl(german)]
    assert [row["text_a"] for row in rows] == [row["text_a"] for row in read_jsonl(clean)]


@pytest.mark.slow
def test_a_local_challenge_set_added_to_a_finished_run_is_scored_by_every_recipe(finished_tiny_run, tmp_path):
    """A challenge set of German XNLI (the clean examples, hypotheses upper-cased) declared as a
    `local` perturbation: only its set, features and evaluations run, and each recipe scores it."""
    import shutil

    from workflow_runs import TINY, planned_jobs, snakemake

    workdir, _ = finished_tiny_run
    study = tmp_path / "study"
    shutil.copytree(workdir, study, symlinks=True)
    rows = read_jsonl(study / "results/data/xnli/test/de.jsonl")
    challenge = tmp_path / "challenge" / "xnli-de.jsonl"
    challenge.parent.mkdir()
    write_jsonl(challenge, [{**{k: v for k, v in row.items() if k != "protected"}, "text_b": row["text_b"].upper()}
                            for row in rows])
    config = yaml.safe_load(TINY.read_text())
    config["perturbations"]["upper"] = {"kind": "local", "benchmarks": ["xnli"],
                                        "options": {"path": str(tmp_path / "challenge" / "{bench}-{lang}.jsonl"),
                                                    "languages": ["de"]}}
    path = tmp_path / "with-challenge.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert planned_jobs(study, path) == {"perturb/xnli/test/upper": 1, "tokenize/xnli/test/upper": 1,
                                         "index_features/xnli/test/upper": 1, "evaluate/xnli/upper": 3,
                                         "report": 1, "all": 1}
    result = snakemake(study, path)
    assert result.returncode == 0, result.stderr[-5000:]
    for recipe in ("none", "mnli", "multi"):
        scores = read_json(study / f"results/eval/tiny/{recipe}/mnli/xnli/upper/seed1/scores.json")["results"]
        assert [(r["lang"], r["condition"]) for r in scores] == [("de", "upper")]
    assert "| xnli | upper |" in (study / "results/report/robustness.md").read_text()


def test_a_perturbed_english_side_reads_the_dictionaries_from_english(tmp_path):
    """The perturb job of a parallel set switched on both sides reads the dictionaries from its
    language and from English; on the other side alone, from its language only."""
    from workflow_runs import dry_run_dag

    config = copy.deepcopy(TINY)
    config["perturbations"] = {name: {"kind": "codeswitch", "rate": 0.3, "benchmarks": ["tatoeba"],
                                      "options": {"languages": ["de", "zh"], **extra}}
                               for name, extra in (("both_sides", {"side": "both"}), ("other_side", {}))}
    config.pop("attacks")
    path = tmp_path / "sides.yaml"
    path.write_text(yaml.safe_dump(config))
    with dry_run_dag(tmp_path, path, forceall=True) as dag:
        read = {job.wildcards["condition"]: sorted(Path(f).name for f in job.input if "dictionaries" in str(f))
                for job in dag.jobs if job.rule.name == "perturb" and job.wildcards["lang"] == "de"}
    assert read == {"both_sides": ["de-zh.txt", "en-de.txt", "en-zh.txt"], "other_side": ["de-zh.txt"]}
