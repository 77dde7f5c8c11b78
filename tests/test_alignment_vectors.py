"""Every layer's sentence vectors from one forward pass, pooled as the retrieval benchmarks pool:
on a tiny XLM-R saved locally in the hub's layout, each layer's retrieval accuracy from the
alignment vectors is the Tatoeba benchmark's own score of that layer, exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xstilts import synthetic
from xstilts.alignment.measures import HIT_MEASURES, retrieval_accuracy
from xstilts.alignment.vectors import first_lines, paired_sides, sentence_vectors
from xstilts.features import load_tokenizer
from xstilts.inference import evaluate_split, predict
from xstilts.modeling import load_for_inference
from xstilts.tasks import task_type

from helpers import tiny_pretrained

SETTINGS = {"max_length": 48}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return tiny_pretrained(tmp_path_factory.mktemp("xlmr"), hidden_size=32, layers=3)


@pytest.fixture(scope="module")
def encoder(saved):
    return load_for_inference(saved), load_tokenizer(saved)


def test_each_layers_retrieval_is_the_tatoeba_benchmarks_own_score(encoder):
    model, tokenizer = encoder
    examples = synthetic.generate("parallel", split="test", lang="de", n=40, seed=7, stream="tatoeba")
    task = task_type("retrieval")(None)
    features = task.featurize(examples, tokenizer, SETTINGS)
    run = dict(pad_id=tokenizer.pad_token_id, batch_size=16, device=torch.device("cpu"), bf16=False)
    vectors = sentence_vectors(model, features, **run)
    assert vectors.shape == (2 * len(examples), 4, 32)  # embeddings' output and three layers
    source, target = paired_sides(vectors, features)
    for layer in range(4):
        task.layer = layer
        # The benchmark's own vectors of this layer, bit for bit (the layers differ from each other).
        assert np.array_equal(np.stack(predict(model, "tatoeba", task, features, **run)), vectors[:, layer]), layer
        _, result = evaluate_split(model, "tatoeba", task, features, examples, metric="accuracy", lang="de",
                                   settings=SETTINGS, **run)
        # Tatoeba's search: each target line's nearest source line.
        assert retrieval_accuracy(target[:, layer], source[:, layer]) == result["score"], layer
    assert not np.allclose(vectors[:, 1], vectors[:, 2])


def test_the_first_lines_of_a_set_keep_both_sides_of_each(encoder):
    _, tokenizer = encoder
    examples = synthetic.generate("parallel", split="test", lang="ru", n=10, seed=7, stream="tatoeba")
    features = task_type("retrieval")(None).featurize(examples, tokenizer, SETTINGS)
    kept = first_lines(features, 4)
    lines = [ex["id"] for ex in examples[:4]]
    assert sorted(kept["line_id"]) == sorted(lines * 2) and set(kept) == set(features)
    source, target = paired_sides(np.arange(len(kept["side"]), dtype=float)[:, None, None], kept)
    assert len(source) == len(target) == 4
    assert first_lines(features, None) is features and first_lines(features, 50) == features


def test_a_set_with_a_line_on_one_side_only_is_refused(encoder):
    model, tokenizer = encoder
    examples = synthetic.generate("parallel", split="test", lang="de", n=6, seed=7, stream="tatoeba")
    examples[2] = {**examples[2], "tgt": None}
    features = task_type("retrieval")(None).featurize(examples, tokenizer, SETTINGS)
    with pytest.raises(ValueError, match="unpaired line ids: " + examples[2]["id"]):
        paired_sides(np.zeros((len(features["side"]), 1, 2)), features)


def test_an_alignment_job_loads_the_checkpoint_once_and_measures_every_set_language_and_layer(saved, encoder,
                                                                                               tmp_path, monkeypatch):
    """Two languages of a Tatoeba-like set and a set whose two sides are the same English text; the
    model is loaded once; the identical set aligns perfectly; the retrieval layer's English-to-other
    accuracy is the Tatoeba benchmark's score."""
    from xstilts.alignment import stage
    from xstilts.features import write_features

    path, (model, tokenizer) = saved, encoder
    task = task_type("retrieval")(None)
    files, examples_of = {}, {}
    for lang in ("de", "ru"):
        examples_of[lang] = synthetic.generate("parallel", split="test", lang=lang, n=24, seed=7, stream="tatoeba")
        files[lang] = tmp_path / f"{lang}.parquet"
        write_features(files[lang], task.featurize(examples_of[lang], tokenizer, SETTINGS))
    same = [{**ex, "src": ex["tgt"]} for ex in examples_of["de"]]
    write_features(tmp_path / "same.parquet", task.featurize(same, tokenizer, SETTINGS))
    loads = []
    real_load = stage.load_for_inference
    monkeypatch.setattr(stage, "load_for_inference", lambda p: loads.append(p) or real_load(p))
    records, hits = stage.measure_checkpoint(path, {"tatoeba": {"clean": {"de": files["de"], "ru": files["ru"]}},
                                              "same": {"clean": {"en": tmp_path / "same.parquet"}}},
                                       device=torch.device("cpu"), batch_size=8, bf16=False)
    assert len(loads) == 1
    cut, _ = stage.measure_checkpoint(path, {"tatoeba": {"clean": {"de": files["de"]}}}, device=torch.device("cpu"),
                                      batch_size=8, bf16=False, max_examples=9)
    assert {r["sentences"] for r in cut} == {9} and {r["sentences"] for r in records} == {24}
    assert [(r["set"], r["condition"], r["lang"], r["layer"]) for r in records] == [
        (name, "clean", lang, layer) for name, lang in (("tatoeba", "de"), ("tatoeba", "ru"), ("same", "en"))
        for layer in range(4)]
    for record in records:  # the per-sentence hits are the percentages' own
        for measure in HIT_MEASURES:
            found = hits[stage.hit_key(record["set"], "clean", record["lang"], measure)]
            assert found.shape == (4, 24) and 100.0 * found[record["layer"]].mean() == pytest.approx(record[measure])
        if record["set"] == "same":
            assert record["retrieval_en_to_xx"] == record["retrieval_xx_to_en"] == 100.0
            assert record["cka"] == pytest.approx(1.0)
    task.layer = 3
    features = task.featurize(examples_of["ru"], tokenizer, SETTINGS)
    _, result = evaluate_split(model, "tatoeba", task, features, examples_of["ru"], metric="accuracy", lang="ru",
                               settings=SETTINGS, pad_id=tokenizer.pad_token_id, batch_size=8,
                               device=torch.device("cpu"), bf16=False)
    last = next(r for r in records if (r["set"], r["lang"], r["layer"]) == ("tatoeba", "ru", 3))
    assert last["retrieval_en_to_xx"] == result["score"]


def test_hits_are_written_whole_and_read_back(tmp_path):
    from xstilts.alignment import stage

    hits = {stage.hit_key("tatoeba", "clean", "de", "retrieval_en_to_xx"): np.array([[True, False], [True, True]])}
    stage.write_hits(tmp_path / "hits.npz", hits)
    back = stage.read_hits(tmp_path / "hits.npz")
    assert list(back) == list(hits) and np.array_equal(back[next(iter(hits))], next(iter(hits.values())))
    assert [p.name for p in tmp_path.iterdir()] == ["hits.npz"]  # no temporary left beside it
