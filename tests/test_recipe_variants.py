"""The paper's variants of intermediate training, as recipes of catalog tasks: continued
multilingual MLM alongside a supervised task (the pretrained LM head, tied to the embeddings,
trained on a multilingual corpus), and machine-translated training data (every language of a
translated train split in one task)."""

from __future__ import annotations

import copy

import pytest
import torch
import yaml
from safetensors.torch import load_file

from xstilts import data, train_stages
from xstilts.config import TRAINING_DEFAULTS, ConfigError, Plan
from xstilts.features import load_tokenizer
from xstilts.io import read_json, read_jsonl, write_jsonl
from xstilts.modeling import load_checkpoint, load_encoder
from xstilts.train_stages import import_model, load_masked_lm, read_train_features, train_stage

from helpers import TOY_TEXTS, features_file, nli_examples, tiny_pretrained

NLI = ["entailment", "neutral", "contradiction"]
PAPER = yaml.safe_load(open("configs/paper.yaml", encoding="utf-8"))


# ---------------------------------------------------------------- planning


def test_paper_variants_read_every_language_and_mlm_takes_no_part_in_selection():
    plan = Plan(copy.deepcopy(PAPER))
    splits = plan.data_splits()
    xnli_languages = plan.task("xnli")["languages"]
    assert sorted(splits[("mnli_mt", "train")]) == sorted(xnli_languages)
    assert splits[("mnli_mt", "dev")] == ["en"]
    assert sorted(splits[("wiki_mlm", "train")]) == sorted(plan.task("wiki_mlm")["languages"])
    assert ("wiki_mlm", "dev") not in splits
    assert splits[("mnli", "train")] == ["en"], "plain English tasks still read English only"
    assert plan.max_examples("wiki_mlm") == PAPER["data"]["max_examples"]["wiki_mlm"]


def test_a_recipe_of_mlm_alone_and_an_mlm_target_are_refused():
    config = copy.deepcopy(PAPER)
    config["recipes"] = {"only_mlm": ["wiki_mlm"]}
    with pytest.raises(ConfigError, match="only_mlm.*only MLM"):
        Plan(config)
    config = copy.deepcopy(PAPER)
    config["targets"] = {"wiki_mlm": ["xnli"]}
    with pytest.raises(ConfigError, match="wiki_mlm.*no head to train"):
        Plan(config)


def test_max_examples_refuses_retrieval_sets():
    config = copy.deepcopy(PAPER)
    config["data"]["max_examples"] = {"bucc2018": 100}
    with pytest.raises(ConfigError, match="bucc2018.*retrieval"):
        Plan(config)


def test_max_examples_names_a_catalog_task():
    config = copy.deepcopy(PAPER)
    config["data"]["max_examples"] = {"wiki_mlmm": 100}
    with pytest.raises(ConfigError, match="max_examples: unknown task 'wiki_mlmm'"):
        Plan(config)
    config["data"]["max_examples"] = {"wiki_mlm": 100}
    config["recipes"] = {"none": []}
    Plan(config)  # a cap for a task no recipe reads any more is harmless


def test_max_examples_caps_each_language_of_a_split(tmp_path):
    spec = {"kind": "corpus", "n": 50, "seed": 1, "max_examples": 7}
    out = tmp_path / "de.jsonl"
    data.prepare(task="wiki_mlm", split="train", lang="de", source="synthetic", spec=spec, out=out)
    assert len(read_jsonl(out)) == 7


# ---------------------------------------------------------------- training


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    return tiny_pretrained(tmp_path_factory.mktemp("tiny-mlm"))


def hp(**overrides):
    return {**TRAINING_DEFAULTS, "lr": 1e-3, "batch_size": 8, "grad_accum": 1, "epochs": 2, "eval_every": 5,
            "patience": 100, **overrides}


def test_per_language_train_files_are_one_task(tmp_path, pretrained):
    tokenizer = load_tokenizer(pretrained)
    files = [features_file(tmp_path / f"{lang}.parquet", "classification", NLI, nli_examples(lang, n), tokenizer)
             for lang, n in (("en", 5), ("de", 3))]
    joined = read_train_features(files)
    parts = [read_train_features(f) for f in files]
    for key in parts[0]:
        assert joined[key] == parts[0][key] + parts[1][key], key
    assert len(joined["input_ids"]) == 8


def test_mlm_recipe_trains_the_pretrained_lm_head_and_saves_only_task_heads(tmp_path, pretrained, monkeypatch):
    trained_heads = {}
    drop = train_stages.drop_mlm_heads

    def keep_a_copy_and_drop(model):  # the LM head as trained, before the checkpoint drops it
        trained_heads.update({name: copy.deepcopy(head) for name, head in model.heads.items()})
        drop(model)

    monkeypatch.setattr(train_stages, "drop_mlm_heads", keep_a_copy_and_drop)
    tokenizer = load_tokenizer(pretrained)
    nli_train = features_file(tmp_path / "nli-train.parquet", "classification", NLI, nli_examples("t", 24), tokenizer)
    nli_dev = features_file(tmp_path / "nli-dev.parquet", "classification", NLI, nli_examples("d", 6), tokenizer)
    write_jsonl(tmp_path / "nli-dev.jsonl", nli_examples("d", 6))
    corpus = {lang: [{"id": f"{lang}{i}", "text": TOY_TEXTS[i]} for i in range(offset, offset + 20)]
              for lang, offset in (("en", 0), ("ru", 3))}
    corpus_files = [features_file(tmp_path / f"mlm-{lang}.parquet", "mlm", None, rows, tokenizer)
                    for lang, rows in corpus.items()]
    tasks = [
        {"name": "mnli", "type": "classification", "labels": NLI, "metric": "accuracy", "settings": {},
         "train": [nli_train], "dev": nli_dev, "dev_examples": str(tmp_path / "nli-dev.jsonl")},
        {"name": "wiki_mlm", "type": "mlm", "labels": None, "metric": "mlm_accuracy", "settings": {},
         "train": corpus_files, "dev": None, "dev_examples": None},
    ]
    _, head_before = load_masked_lm(pretrained)
    dense_before = head_before.dense.weight.detach().clone()
    out = tmp_path / "checkpoint"
    summary = train_stage(encoder_path=pretrained, tasks=tasks, hp=hp(), seed=1, out_dir=out,
                          log_out=tmp_path / "log.jsonl", state_dir=tmp_path / "state", device=torch.device("cpu"),
                          eval_batch_size=16)
    assert summary["tasks"] == ["mnli", "wiki_mlm"]
    dev_lines = [line for line in summary["log"] if "dev" in line]
    assert dev_lines and all(set(line["dev"]) == {"mnli"} for line in dev_lines), "selection on NLI only"
    assert set(read_json(out / "heads.json")) == {"mnli"}
    assert all(key.startswith("mnli.") for key in load_file(out / "heads.safetensors"))
    reloaded = load_checkpoint(out)  # the retrieval and target stages read it
    assert set(reloaded.heads) == {"mnli"}
    # The MLM loss reached the pretrained LM head (it gets gradients from no other task).
    assert not torch.allclose(trained_heads["wiki_mlm"].dense.weight, dense_before)
    # The MLM task moved the encoder beyond what the NLI head alone would: compare with NLI only.
    nli_only = tmp_path / "nli-only"
    train_stage(encoder_path=pretrained, tasks=tasks[:1], hp=hp(), seed=1, out_dir=nli_only,
                log_out=tmp_path / "log2.jsonl", state_dir=tmp_path / "state2", device=torch.device("cpu"),
                eval_batch_size=16)
    with_mlm = load_encoder(out).embeddings.word_embeddings.weight
    without = load_encoder(nli_only).embeddings.word_embeddings.weight
    assert not torch.allclose(with_mlm, without)
    assert torch.equal(dense_before, load_masked_lm(pretrained)[1].dense.weight), "the source is not modified"


def test_the_lm_head_is_the_pretrained_one_and_stays_tied(pretrained):
    encoder, head = load_masked_lm(pretrained)
    saved = load_file(pretrained / "model.safetensors")
    dense = next(v for k, v in saved.items() if k.endswith("lm_head.dense.weight"))
    assert torch.equal(head.dense.weight, dense)
    assert head.decoder.weight.data_ptr() == encoder.embeddings.word_embeddings.weight.data_ptr()


def test_a_model_without_lm_head_fails_an_mlm_recipe_by_name(tmp_path, pretrained):
    encoder_only = tmp_path / "encoder-only"
    load_encoder(pretrained).save_pretrained(encoder_only)
    with pytest.raises(ValueError, match="encoder-only.*no masked-LM head"):
        load_masked_lm(encoder_only)


def test_import_keeps_the_lm_head_and_falls_back_to_the_encoder(tmp_path, pretrained):
    import_model(str(pretrained), tmp_path / "imported")
    keys = load_file(tmp_path / "imported" / "model.safetensors")
    assert any("lm_head.dense" in k for k in keys)
    load_masked_lm(tmp_path / "imported")  # an MLM recipe can run on the imported model

    encoder_only = tmp_path / "encoder-only"
    load_encoder(pretrained).save_pretrained(encoder_only)
    load_tokenizer(pretrained).save_pretrained(encoder_only)
    import_model(str(encoder_only), tmp_path / "imported-encoder")
    assert not any("lm_head" in k for k in load_file(tmp_path / "imported-encoder" / "model.safetensors"))
    load_encoder(tmp_path / "imported-encoder")


def test_a_target_selected_on_several_languages_reads_one_dev_set_per_benchmark_and_language(tmp_path, pretrained):
    """selection: multilingual: dev, dev_examples and dev_metrics by "bench/lang"; each set is cut to
    eval_examples on its own and scored in its own language."""
    tokenizer = load_tokenizer(pretrained)
    spec = {"name": "mnli_mt", "type": "classification", "labels": NLI, "metric": "accuracy", "settings": {},
            "train": [features_file(tmp_path / "train.parquet", "classification", NLI, nli_examples("t", 12), tokenizer)],
            "dev": {}, "dev_examples": {}, "dev_metrics": {}, "eval_examples": 4}
    for lang in ("en", "de"):
        key = f"xnli/{lang}"
        spec["dev"][key] = features_file(tmp_path / f"dev-{lang}.parquet", "classification", NLI,
                                         nli_examples(lang, 6), tokenizer)
        write_jsonl(tmp_path / f"dev-{lang}.jsonl", nli_examples(lang, 6))
        spec["dev_examples"][key] = str(tmp_path / f"dev-{lang}.jsonl")
        spec["dev_metrics"][key] = "accuracy"
    task = train_stages.train_task_from(spec)
    assert list(task.selection_sets()) == ["xnli/en", "xnli/de"]
    assert [(dev.lang, len(dev.examples), len(dev.features["input_ids"])) for dev in task.dev_sets.values()] == \
        [("en", 4, 4), ("de", 4, 4)]
    assert task.dev_features is None
    assert train_stages.dev_files(spec["dev"]) == list(spec["dev"].values())
