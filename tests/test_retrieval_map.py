"""XTREME-R's ranking benchmarks, Mewsli-X and LAReQA (mAP@20), end to end.

Fixtures are written in the layout google-research/xtreme's download_data.sh leaves
(mewslix/wikinews_mentions/{split}-{lang}.jsonl + mewslix/candidate_set_entities.jsonl;
lareqa/xquad-r/{lang}.json, XQuAD with `sentence_breaks`) and read through the real
`data.prepare`, as the prepare stage reads them. The metric is checked by hand-worked cases,
the task type on hand-made vectors and on a tiny random XLM-R through `evaluation.evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pytest import approx

from xstilts import data, evaluation, features, metrics
from xstilts.catalog import load_catalog
from xstilts.config import RANKING_POOL
from xstilts.io import read_json, read_jsonl
from xstilts.sources import DataSourceError
from xstilts.tasks import task_type
from xstilts.tasks.retrieval import SOURCE, TARGET

from helpers import tiny_pretrained

CATALOG = load_catalog()


def prepare(root: Path, task: str, split: str, lang: str, **spec_changes) -> list[dict]:
    spec = {**CATALOG[task]["sources"]["xtreme_dir"], "root": str(root), **spec_changes}
    out = root / "out" / task / split / f"{lang}.jsonl"
    data.prepare(task=task, split=split, lang=lang, source="xtreme_dir", spec=spec, out=out)
    return read_jsonl(out)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    return write(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


# ---------------------------------------------------------------- LAReQA (XQuAD-R) fixtures


def xquad_r_paragraph(sentences: list[str], qas: list[tuple[str, str, int, str]]) -> dict:
    """A paragraph as LAReQA's xquad-r files hold it; qas are (id, question, sentence index, answer)."""
    context = " ".join(sentences)
    starts = [sum(len(s) + 1 for s in sentences[:i]) for i in range(len(sentences))]
    breaks = [[start, start + len(s)] for start, s in zip(starts, sentences)]
    return {"context": context, "sentence_breaks": breaks, "sentences": sentences,
            "qas": [{"id": qid, "question": question,
                     "answers": [{"text": answer, "answer_start": starts[i] + sentences[i].index(answer)}]}
                    for qid, question, i, answer in qas]}


def xquad_r_file(root: Path, lang: str, paragraphs: list[dict]) -> Path:
    return write(root / f"lareqa/xquad-r/{lang}.json", json.dumps({"data": [{"paragraphs": paragraphs}]}))


@pytest.fixture
def lareqa_dir(tmp_path) -> Path:
    xquad_r_file(tmp_path, "en", [
        xquad_r_paragraph(["Paris is big.", "Rome is old.", "Oslo is cold."],
                          [("q1", "What is big?", 0, "Paris"), ("q2", "What is old?", 1, "Rome")]),
        xquad_r_paragraph(["Cats purr."], [("q3", "What purrs?", 0, "Cats")]),
    ])
    xquad_r_file(tmp_path, "de", [
        xquad_r_paragraph(["Paris ist groß.", "Rom ist alt.", "Oslo ist kalt."],
                          [("q1", "Was ist groß?", 0, "Paris"), ("q2", "Was ist alt?", 1, "Rom")]),
        xquad_r_paragraph(["Katzen schnurren."], [("q3", "Was schnurrt?", 0, "Katzen")]),
    ])
    # el: q3 is missing, and a paragraph whose only question starts outside every sentence is
    # skipped, sentences and all, as XTREME-R's utils_lareqa.py does
    broken = xquad_r_paragraph(["Λάθος."], [("q4", "Τι;", 0, "Λάθος")])
    broken["qas"][0]["answers"][0]["answer_start"] = 99
    xquad_r_file(tmp_path, "el", [
        xquad_r_paragraph(["Το Παρίσι είναι μεγάλο.", "Η Ρώμη είναι παλιά.", "Το Όσλο είναι κρύο."],
                          [("q1", "Τι είναι μεγάλο;", 0, "Παρίσι"), ("q2", "Τι είναι παλιό;", 1, "Ρώμη")]),
        broken,
    ])
    return tmp_path


POOL = ["en", "de", "el"]  # the catalog's pool is all 11 XQuAD-R languages; three suffice here


def test_lareqa_rows_hold_a_languages_questions_and_the_pool_every_languages_sentences(lareqa_dir):
    queries = prepare(lareqa_dir, "lareqa", "test", "de", pool=POOL)
    assert queries == [
        {"id": "q1", "src": "Was ist groß?", "tgt": None, "relevant": ["en_1_0", "de_1_0", "el_1_0"]},
        {"id": "q2", "src": "Was ist alt?", "tgt": None, "relevant": ["en_1_1", "de_1_1", "el_1_1"]},
        {"id": "q3", "src": "Was schnurrt?", "tgt": None, "relevant": ["en_2_0", "de_2_0"]},
    ]
    pool = prepare(lareqa_dir, "lareqa", "test", RANKING_POOL, pool=POOL)
    assert [r["id"] for r in pool] == ["en_1_0", "en_1_1", "en_1_2", "en_2_0", "de_1_0", "de_1_1", "de_1_2",
                                       "de_2_0", "el_1_0", "el_1_1", "el_1_2"]
    assert pool[5] == {"id": "de_1_1", "src": None, "tgt": "Rom ist alt.",
                       "context": "Paris ist groß. Rom ist alt. Oslo ist kalt."}
    assert all(r["src"] is not None for r in prepare(lareqa_dir, "lareqa", "test", "el", pool=POOL))


def test_lareqa_catalog_pool_and_files_read(tmp_path):
    spec = {**CATALOG["lareqa"]["sources"]["xtreme_dir"], "root": str(tmp_path)}
    assert spec["pool"] == CATALOG["lareqa"]["languages"]
    files = data.source_files(task="lareqa", split="test", lang="de", source="xtreme_dir", spec=spec)
    assert files == [str(tmp_path / f"lareqa/xquad-r/{lang}.json") for lang in CATALOG["lareqa"]["languages"]]


def test_lareqa_plain_xquad_without_sentence_breaks_is_refused(tmp_path):
    squad = {"data": [{"paragraphs": [{"context": "Paris is big.", "qas": [
        {"id": "q1", "question": "What?", "answers": [{"text": "Paris", "answer_start": 0}]}]}]}]}
    for lang in ("en", "de"):
        write(tmp_path / f"lareqa/xquad-r/{lang}.json", json.dumps(squad))
    with pytest.raises(DataSourceError, match=r"xquad-r/en\.json: paragraph 1 has no sentence_breaks"):
        prepare(tmp_path, "lareqa", "test", "de", pool=["en", "de"])


# ---------------------------------------------------------------- Mewsli-X fixtures


def article(lang: str, doc: str, sentences: list[str], mentions: list[tuple[str, str, int, str]]) -> dict:
    """A WikiNews article as wikinews_mentions/{split}-{lang}.jsonl holds it; mentions are
    (example id, surface, sentence index, gold entity id)."""
    text = " ".join(sentences)
    starts = [sum(len(s) + 1 for s in sentences[:i]) for i in range(len(sentences))]
    spans = [{"start": start, "end": start + len(s)} for start, s in zip(starts, sentences)]
    context = {"document_title": doc, "document_url": f"https://{lang}.wikinews.org/{doc}", "document_id": doc,
               "language": lang, "text": text, "sentence_spans": spans}
    rows = []
    for example_id, surface, i, entity in mentions:
        start = starts[i] + sentences[i].index(surface)
        rows.append({"example_id": example_id, "entity_id": entity,
                     "mention_span": {"start": start, "end": start + len(surface), "text": surface}})
    return {"context": context, "mentions": rows}


def entity(qid: str, lang: str, sentences: list[str]) -> dict:
    description = "\n".join(sentences)
    starts = [sum(len(s) + 1 for s in sentences[:i]) for i in range(len(sentences))]
    return {"entity_id": qid, "title": sentences[0].split()[0], "description": description,
            "sentence_spans": [{"start": s, "end": s + len(t)} for s, t in zip(starts, sentences)],
            "description_language": lang, "description_url": f"https://{lang}.wikipedia.org/wiki/{qid}"}


ENTITIES = [entity("Q90", "fr", ["Paris est la capitale de la France.", "Elle est grande."]),
            entity("Q220", "en", ["Rome is the capital of Italy."]),
            entity("Q585", "de", ["Oslo ist die Hauptstadt Norwegens."])]


@pytest.fixture
def mewslix_dir(tmp_path) -> Path:
    write_jsonl(tmp_path / "mewslix/candidate_set_entities.jsonl", ENTITIES)
    write_jsonl(tmp_path / "mewslix/wikinews_mentions/dev-en.jsonl", [
        article("en", "d1", ["It rained.", "The {new} mayor of Paris spoke in Rome."],
                [("en-1", "Paris", 1, "Q90"), ("en-2", "Rome", 1, "Q220")])])
    write_jsonl(tmp_path / "mewslix/wikinews_mentions/dev-de.jsonl", [
        article("de", "d2", ["Oslo\nfeiert."], [("de-1", "Oslo", 0, "Q585")])])
    return tmp_path


def test_mewslix_rows_are_mention_queries_and_the_pool_the_entities(mewslix_dir):
    rows = prepare(mewslix_dir, "mewslix", "dev", "en")
    assert rows == [
        # XTREME-R's baseline query: the mention, then its sentence with the mention in braces;
        # braces already in the text become parentheses
        {"id": "en-1", "src": "Paris: The (new) mayor of { Paris } spoke in Rome.", "tgt": None, "relevant": ["Q90"]},
        {"id": "en-2", "src": "Rome: The (new) mayor of Paris spoke in { Rome } .", "tgt": None, "relevant": ["Q220"]},
    ]
    assert prepare(mewslix_dir, "mewslix", "dev", RANKING_POOL) == [
        {"id": "Q90", "src": None, "tgt": "Paris est la capitale de la France. Elle est grande."},
        {"id": "Q220", "src": None, "tgt": "Rome is the capital of Italy."},
        {"id": "Q585", "src": None, "tgt": "Oslo ist die Hauptstadt Norwegens."},
    ]
    de = prepare(mewslix_dir, "mewslix", "dev", "de")
    assert de == [{"id": "de-1", "src": "Oslo: { Oslo } feiert.", "tgt": None, "relevant": ["Q585"]}]


def test_mewslix_blanked_test_ids_are_refused_unless_the_release_file_is_there(mewslix_dir):
    labelled = article("de", "d3", ["Rom ist alt."], [("de-9", "Rom", 0, "Q220")])
    blanked = {**labelled, "mentions": [{**labelled["mentions"][0], "entity_id": ""}]}
    write_jsonl(mewslix_dir / "mewslix/wikinews_mentions/test-de.jsonl", [blanked])
    with pytest.raises(DataSourceError, match=r"test-de\.jsonl: every entity_id is blank.*get-mewsli-x\.sh"):
        prepare(mewslix_dir, "mewslix", "test", "de")
    # the Mewsli-X release's own file (every language in one) keeps the gold entities
    english = article("en", "d4", ["Paris."], [("en-9", "Paris", 0, "Q90")])
    write_jsonl(mewslix_dir / "mewslix/wikinews_mentions-test.jsonl", [english, labelled])
    assert prepare(mewslix_dir, "mewslix", "test", "de")[0] == {
        "id": "de-9", "src": "Rom: { Rom } ist alt.", "tgt": None, "relevant": ["Q220"]}


def test_mewslix_malformed_input_names_the_file_and_what_is_wrong(mewslix_dir):
    unknown = article("en", "d5", ["Bern is calm."], [("en-5", "Bern", 0, "Q70")])
    write_jsonl(mewslix_dir / "mewslix/wikinews_mentions/dev-en.jsonl", [unknown])
    with pytest.raises(DataSourceError, match=r"dev-en\.jsonl: mention 'en-5' links to entity 'Q70', which is not"):
        prepare(mewslix_dir, "mewslix", "dev", "en")
    crossing = article("en", "d6", ["New", "York is big."], [("en-6", "York", 1, "Q60")])
    crossing["mentions"][0]["mention_span"].update(start=0, end=8, text="New York")
    write_jsonl(mewslix_dir / "mewslix/wikinews_mentions/dev-en.jsonl", [crossing])
    with pytest.raises(DataSourceError, match=r"mention 'en-6' lies in no single sentence"):
        prepare(mewslix_dir, "mewslix", "dev", "en")
    write(mewslix_dir / "mewslix/wikinews_mentions/dev-en.jsonl", "{not json\n")
    with pytest.raises(DataSourceError, match=r"dev-en\.jsonl:1: not valid JSON"):
        prepare(mewslix_dir, "mewslix", "dev", "en")


def test_mewslix_files_read_include_the_candidate_pool(tmp_path):
    spec = {**CATALOG["mewslix"]["sources"]["xtreme_dir"], "root": str(tmp_path)}
    assert data.source_files(task="mewslix", split="dev", lang="de", source="xtreme_dir", spec=spec) == [
        str(tmp_path / "mewslix/wikinews_mentions/dev-de.jsonl"), str(tmp_path / "mewslix/candidate_set_entities.jsonl")]
    assert data.source_files(task="mewslix", split="dev", lang=RANKING_POOL, source="xtreme_dir", spec=spec) == [
        str(tmp_path / "mewslix/candidate_set_entities.jsonl")]


def test_local_ranking_files_are_checked_against_the_schema(tmp_path):
    spec = {"root": str(tmp_path)}
    good = [{"id": "q", "src": "Rome?", "tgt": None, "relevant": ["Q220"]}, {"id": "Q220", "src": None, "tgt": "Rome."}]
    write_jsonl(tmp_path / "lareqa/test/de.jsonl", good)
    out = tmp_path / "out.jsonl"
    data.prepare(task="lareqa", split="test", lang="de", source="local", spec=spec, out=out)
    assert read_jsonl(out) == good
    write_jsonl(tmp_path / "lareqa/test/de.jsonl", [{**good[0], "relevant": "Q220"}])
    with pytest.raises(DataSourceError, match="relevant must be a list of candidate ids"):
        data.prepare(task="lareqa", split="test", lang="de", source="local", spec=spec, out=out)
    write_jsonl(tmp_path / "lareqa/test/de.jsonl", [{"id": "c", "src": None, "tgt": "Rome.", "relevant": []}])
    with pytest.raises(DataSourceError, match="needs src"):
        data.prepare(task="lareqa", split="test", lang="de", source="local", spec=spec, out=out)


# ---------------------------------------------------------------- mAP@20, worked by hand


def test_map_at_20_divides_by_min_of_k_and_the_number_relevant():
    ranking = [f"c{i}" for i in range(1, 26)]  # c1 best ... c25
    # 3 relevant, at ranks 1, 5 and 22: the one below k=20 counts as a miss
    # AP@20 = (1/1 + 2/5) / min(3, 20) = 1.4 / 3
    assert metrics.mean_average_precision_at_k([ranking], [{"c1", "c5", "c22"}], k=20) == approx(100 * 1.4 / 3)
    # ranked in full it would count: (1 + 2/5 + 3/22) / 3
    assert metrics.mean_average_precision_at_k([ranking], [{"c1", "c5", "c22"}], k=None) == \
        approx(100 * (1 + 0.4 + 3 / 22) / 3)
    # 25 relevant, the top 20 all hits: 20 / min(25, 20) = 1
    assert metrics.mean_average_precision_at_k([ranking], [set(ranking)], k=20) == approx(100.0)
    # Mewsli-X: one gold entity at rank 4 -> 1/4, the reciprocal rank; not in the top 20 -> 0
    assert metrics.mean_average_precision_at_k([ranking, ranking], [{"c4"}, {"c21"}], k=20) == approx(100 * 0.25 / 2)


def test_rank_by_cosine_is_best_first_and_capped_at_the_pool():
    candidates = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    queries = np.array([[0.1, 1.0], [3.0, 0.0]], dtype=np.float32)  # scale does not matter
    assert metrics.rank_by_cosine(queries, candidates, 20).tolist() == [[1, 2, 0], [0, 2, 1]]


# ---------------------------------------------------------------- the Retrieval task type


def test_decode_and_score_on_hand_made_vectors():
    """A query whose relevant candidate is its nearest scores AP 1; one whose two relevant
    candidates come 1st and 3rd scores (1 + 2/3) / 2."""
    examples = [{"id": "qa", "src": "a", "tgt": None, "relevant": ["x"]},
                {"id": "qb", "src": "b", "tgt": None, "relevant": ["y", "x"]},
                {"id": "x", "src": None, "tgt": "x"}, {"id": "y", "src": None, "tgt": "y"},
                {"id": "z", "src": None, "tgt": "z"}]
    feats = {"input_ids": [[0]] * 5, "side": [SOURCE, SOURCE, TARGET, TARGET, TARGET],
             "line_id": ["qa", "qb", "x", "y", "z"]}
    outputs = [np.array(v, dtype=np.float32) for v in
               ([1, 0, 0], [0, 1, 0.2], [1, 0.1, 0], [0, 1, 0], [0.5, 0, 1])]
    task = task_type("retrieval")()
    predictions = task.decode(outputs, feats, examples, {"metric": "map_at_20"})
    # cosines: qa -> x .99, z .45, y 0; qb -> y .98, z .18, x .10
    assert predictions == [{"id": "qa", "prediction": ["x", "z", "y"]}, {"id": "qb", "prediction": ["y", "z", "x"]}]
    scores = task.score(predictions[:1], examples, "map_at_20", "en")
    assert scores == {"map_at_20": approx(100.0), "score": approx(100.0)}
    assert task.score(predictions, examples, "map_at_20", "en")["score"] == approx(100 * (1 + (1 + 2 / 3) / 2) / 2)


def test_a_query_line_without_relevant_is_refused_when_scoring():
    task = task_type("retrieval")()
    with pytest.raises(ValueError, match=r"\['q'\] have no `relevant` list"):
        task.score([{"id": "q", "prediction": ["x"]}], [{"id": "q", "src": "a", "tgt": None}], "map_at_20", "en")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    return tiny_pretrained(tmp_path_factory.mktemp("tiny"))


def test_candidate_with_context_is_encoded_as_sentence_then_paragraph(pretrained):
    tokenizer = features.load_tokenizer(pretrained)
    lines = [{"id": "s", "src": None, "tgt": "Anna buys apples .", "context": "Marco sells the car . Anna buys apples ."}]
    row = task_type("retrieval")().featurize(lines, tokenizer, {"max_length": 64})["input_ids"][0]
    sentence = tokenizer("Anna buys apples .")["input_ids"]
    assert row[: len(sentence)] == sentence and len(row) > len(sentence) + 5
    short = task_type("retrieval")().featurize(lines, tokenizer, {"max_length": 12})["input_ids"][0]
    assert len(short) == 12 and short[: len(sentence)] == sentence  # the paragraph is cut, not the sentence


def test_evaluate_scores_map_at_20_from_prepared_files_with_a_tiny_encoder(tmp_path, mewslix_dir, pretrained):
    """prepare -> tokenize -> evaluate, as the workflow runs them. The mention text equals its
    entity's description for both queries, so identical vectors put the gold entity first."""
    write_jsonl(mewslix_dir / "mewslix/candidate_set_entities.jsonl",
                [entity("Q90", "en", ["Anna buys 3 red apples in Paris ."]),
                 entity("Q220", "en", ["Marco sells the blue car in Rome ."]),
                 entity("Q585", "en", ["The old man reads a long book near the river ."])])
    queries = {"Q90": "Anna buys 3 red apples in Paris .", "Q220": "Marco sells the blue car in Rome ."}
    spec = {**CATALOG["mewslix"]["sources"]["xtreme_dir"], "root": str(mewslix_dir)}
    paths = {}
    for lang in ("en", RANKING_POOL):
        examples_path = mewslix_dir / f"out/mewslix/dev/{lang}.jsonl"
        data.prepare(task="mewslix", split="dev", lang=lang, source="xtreme_dir", spec=spec, out=examples_path)
        paths[lang] = {"examples": str(examples_path), "features": str(tmp_path / f"features/{lang}.parquet")}
    rows = read_jsonl(paths["en"]["examples"])
    for row in rows:  # the query is the mention's sentence: make it the description itself
        row["src"] = queries[row["relevant"][0]]
    write_jsonl(Path(paths["en"]["examples"]), rows)
    features.tokenize(tokenizer_dir=pretrained, task_type_name="retrieval", labels=None,
                      examples_paths=[p["examples"] for p in paths.values()], settings={"max_length": 32},
                      outs=[p["features"] for p in paths.values()])
    out = tmp_path / "eval"
    evaluation.evaluate(checkpoint=pretrained, head=None, bench="mewslix", bench_type="retrieval",
                        metric="map_at_20", retrieval_layer=1, settings={"max_length": 32}, meta={"seed": 1},
                        device=torch.device("cpu"), batch_size=2, pool=paths[RANKING_POOL], languages={"en": paths["en"]},
                        out={"scores": str(out / "scores.json"), "predictions": str(out / "predictions.jsonl")})
    [result] = read_json(out / "scores.json")["results"]
    assert result["lang"] == "en"
    assert result["score"] == approx(100.0) and result["metrics"] == {"map_at_20": approx(100.0)}
    predictions = read_jsonl(out / "predictions.jsonl")
    assert [(p["lang"], p["id"], p["prediction"][0], len(p["prediction"])) for p in predictions] == [
        ("en", "en-1", "Q90", 3), ("en", "en-2", "Q220", 3)]


# ---------------------------------------------------------------- the workflow


@pytest.mark.slow
def test_workflow_prepares_one_pool_and_ranks_every_language_against_it(tmp_path):
    """xtreme_dir -> prepare (queries per language, one pool) -> tokenize -> evaluate -> report,
    through Snakemake, with a tiny local XLM-R for the plain-model recipe."""
    from test_workflow import run_config

    root = tmp_path / "xtreme"
    for lang in CATALOG["lareqa"]["languages"]:
        xquad_r_file(root, lang, [xquad_r_paragraph([f"Paris {lang} is big.", f"Rome {lang} is old."],
                                                    [("q1", f"What {lang} is big?", 0, "Paris"),
                                                     ("q2", f"What {lang} is old?", 1, "Rome")])])
    write_jsonl(root / "mewslix/candidate_set_entities.jsonl", ENTITIES)
    for lang in CATALOG["mewslix"]["languages"]:
        write_jsonl(root / f"mewslix/wikinews_mentions/test-{lang}.jsonl", [
            article(lang, f"d-{lang}", [f"The mayor of Paris spoke in Rome ({lang})."],
                    [(f"{lang}-1", "Paris", 0, "Q90"), (f"{lang}-2", "Rome", 0, "Q220")])])
    config = {"run_name": "ranking", "data": {"source": "xtreme_dir", "xtreme_dir": str(root)},
              "features": {"max_length": {"retrieval": 64}},
              "models": {"tiny": {"hub": str(tiny_pretrained(tmp_path / "tiny")), "retrieval_layer": 1}},
              "recipes": {"none": []}, "targets": {}, "retrieval": ["mewslix", "lareqa"], "seeds": [1],
              "resources": {"warm_processes": True}}  # short jobs: forked warm (results unchanged)
    results = run_config(tmp_path, config, "ranking")
    assert len(read_jsonl(results / "data/mewslix/test/pool.jsonl")) == len(ENTITIES)
    assert len(read_jsonl(results / "data/lareqa/test/pool.jsonl")) == 2 * len(CATALOG["lareqa"]["languages"])
    for bench in ("mewslix", "lareqa"):
        for lang in CATALOG[bench]["languages"]:
            assert all(row["src"] for row in read_jsonl(results / f"data/{bench}/test/{lang}.jsonl"))
        scored = read_json(results / f"eval/tiny/none/encoder/{bench}/clean/seed1/scores.json")["results"]
        assert [s["lang"] for s in scored] == CATALOG[bench]["languages"]  # the pool is no language of its own
        for result in scored:
            assert 0.0 <= result["metrics"]["map_at_20"] <= 100.0 and result["n_examples"] == 2
    assert "mewslix" in (results / "report/main_table.csv").read_text()
