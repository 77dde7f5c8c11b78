"""The demo's shipped model (pretrained/demo-tiny): made from configs/demo_model.yaml by the
workflow's pretrain stage, recorded with its provenance, and refused by name when the config's
generator seed, the generator's code or one of its files differs from what it was made with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from xstilts import shipped
from xstilts.code_hashes import GENERATOR, code_hash

from workflow_runs import ROOT, planned_jobs

DEMO = yaml.safe_load((ROOT / "config.yaml").read_text())
DEMO_MODEL = yaml.safe_load((ROOT / "configs" / "demo_model.yaml").read_text())


def _what_pretraining_reads(data: dict) -> dict:
    """The data settings minus the sizes of the fine-tuning tasks, which pre-training never reads: a
    target added to the demo must not call for a new model."""
    synthetic = dict(data["synthetic"])
    synthetic["task_sizes"] = {"corpus": synthetic["task_sizes"]["corpus"]}
    return {**data, "synthetic": synthetic}


def _pretrain_settings(entry: dict) -> dict:
    """A model's entry minus what only later stages read (its recipes and targets)."""
    return {key: value for key, value in entry.items() if key not in ("recipes", "targets")}


@pytest.mark.parametrize("model", list(DEMO_MODEL["models"]))
def test_the_committed_model_is_the_one_its_provenance_describes(model):
    """Fails when src/xstilts/synthetic.py changes without `python -m xstilts.shipped rebuild`."""
    folder = ROOT / "pretrained" / model
    provenance = shipped.check(folder, generator_seed=DEMO["data"]["synthetic"]["seed"])
    assert provenance["model"] == model
    assert {m: _pretrain_settings(e) for m, e in provenance["config"]["models"].items()} == \
        {model: _pretrain_settings(DEMO_MODEL["models"][model])}
    assert _what_pretraining_reads(provenance["config"]["data"]) == _what_pretraining_reads(DEMO_MODEL["data"])
    assert set(provenance["files"]) >= {"config.json", "model.safetensors", "tokenizer.json", "training_summary.json"}
    made = json.loads((folder / "config.json").read_text())
    shape = DEMO_MODEL["models"][model]["pretrain"]
    assert (made["hidden_size"], made["num_hidden_layers"]) == (shape["hidden_size"], shape["num_hidden_layers"])
    assert made["hidden_dropout_prob"] == made["attention_probs_dropout_prob"] == shape.get("dropout", 0.1)


def test_the_demos_two_sizes_share_one_tokenizer_and_differ_two_to_four_fold():
    """Q-scale in the demo: the second size is 2-4x the first, pre-trained on the same corpora with the
    same tokenizer, so that only the size differs."""
    from xstilts.report.scaling import parameter_counts

    folders = {model: ROOT / "pretrained" / model for model in DEMO["models"]}
    assert [DEMO["models"][m]["shipped"] for m in folders] == [f"pretrained/{m}" for m in folders]
    tiny, small = parameter_counts({m: folder / "config.json" for m, folder in folders.items()}).values()
    assert 2 <= small / tiny <= 4
    tokenizers = {(folder / "tokenizer.json").read_bytes() for folder in folders.values()}
    assert len(tokenizers) == 1


def test_the_demo_reads_the_models_demo_model_yaml_pretrains():
    assert list(DEMO["models"]) == list(DEMO_MODEL["models"])
    for model, entry in DEMO["models"].items():
        assert entry["shipped"] == f"pretrained/{model}"
        # A model's `training` reaches its pre-training too: the demo's fine-tuning settings stay out of
        # demo_model.yaml, which pre-trains with the config's `training.pretrain`.
        assert {k: v for k, v in entry.items() if k not in ("shipped", "training")} == \
            {k: v for k, v in DEMO_MODEL["models"][model].items() if k != "pretrain"}
        assert "training" not in DEMO_MODEL["models"][model]
    for key in set(DEMO) | set(DEMO_MODEL):
        if key != "models":
            assert DEMO.get(key) == DEMO_MODEL.get(key), f"configs/demo_model.yaml differs from config.yaml in '{key}'"


@pytest.fixture
def copy_of_the_model(tmp_path) -> Path:
    folder = tmp_path / "demo-tiny"
    shutil.copytree(shipped.DEMO_MODEL_FOLDER, folder)
    return folder


def test_another_generator_seed_is_refused_by_name(copy_of_the_model):
    with pytest.raises(shipped.ShippedModelError, match="generator seed 7, but this config's data.synthetic.seed is 8"):
        shipped.check(copy_of_the_model, generator_seed=8)


def test_another_generator_code_is_refused_by_name(copy_of_the_model):
    provenance = json.loads((copy_of_the_model / shipped.PROVENANCE).read_text())
    assert provenance["generator"]["code"] == code_hash(*GENERATOR)
    provenance["generator"]["code"] = "0" * 16  # as if synthetic.py had changed since the model was made
    (copy_of_the_model / shipped.PROVENANCE).write_text(json.dumps(provenance))
    with pytest.raises(shipped.ShippedModelError, match="another generator .*synthetic.py changed"):
        shipped.check(copy_of_the_model, generator_seed=7)


@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json"])
def test_a_changed_file_is_refused_by_name(copy_of_the_model, name):
    with open(copy_of_the_model / name, "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 1]))
    with pytest.raises(shipped.ShippedModelError, match=f"{name}: sha256 differs"):
        shipped.check(copy_of_the_model, generator_seed=7)
    with pytest.raises(shipped.ShippedModelError, match=f"{name}: sha256 differs"):
        shipped.copy_checked(copy_of_the_model, copy_of_the_model.parent / "out",
                             shipped.read_provenance(shipped.DEMO_MODEL_FOLDER)["files"])
    assert not (copy_of_the_model.parent / "out" / "training_summary.json").exists()


def test_a_missing_provenance_is_refused_by_name(tmp_path):
    with pytest.raises(shipped.ShippedModelError, match="no provenance.json"):
        shipped.check(tmp_path, generator_seed=7)


def test_the_workflow_refuses_a_stale_model_before_any_job(copy_of_the_model, tmp_path):
    """The check runs when Snakemake reads the config: nothing is planned, the model is named."""
    config = {**DEMO, "models": {"demo-tiny": {"shipped": str(copy_of_the_model), "retrieval_layer": 2}},
              "data": {**DEMO["data"], "synthetic": {**DEMO["data"]["synthetic"], "seed": 8}}}
    path = tmp_path / "stale.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.raises(Exception, match="models.demo-tiny.shipped: .*generator seed 7"):
        planned_jobs(tmp_path, path)


def test_the_demo_plans_no_pretraining_and_copies_the_models(tmp_path):
    plan = planned_jobs(tmp_path, ROOT / "config.yaml")
    assert plan["shipped_model"] == len(DEMO["models"]) == 2 and "pretrain" not in plan
    assert not any(label.startswith("prepare/corpus") for label in plan)  # nothing reads the corpora


def test_the_demos_two_sizes_tokenize_each_set_once(tmp_path):
    """demo-small's tokenizer is demo-tiny's byte for byte: its jobs read demo-tiny's features, and no
    set is tokenized for it; a shipped model with another tokenizer keeps features of its own."""
    from workflow_runs import dry_run_dag

    with dry_run_dag(tmp_path, ROOT / "config.yaml") as dag:
        tokenized = {job.wildcards["model"] for job in dag.jobs if job.rule.name in ("tokenize", "index_features")}
        read = {str(path).split("/")[2] for job in dag.jobs if job.rule.name in ("evaluate", "target", "intermediate")
                and job.wildcards["model"] == "demo-small" for path in job.input if "results/features/" in str(path)}
    assert tokenized == {"demo-tiny"} and read == {"demo-tiny"}
    other = tmp_path / "other-tokenizer"
    shutil.copytree(ROOT / "pretrained" / "demo-small", other)
    provenance = json.loads((other / shipped.PROVENANCE).read_text())
    config = (other / "tokenizer_config.json").read_text().replace("}", ', "note": "another"}', 1)
    (other / "tokenizer_config.json").write_text(config)
    provenance["files"]["tokenizer_config.json"] = shipped.sha256(other / "tokenizer_config.json")
    (other / shipped.PROVENANCE).write_text(json.dumps(provenance))
    changed = {**DEMO, "models": {**DEMO["models"], "demo-small": {**DEMO["models"]["demo-small"], "shipped": str(other)}}}
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(changed, sort_keys=False))
    with dry_run_dag(tmp_path / "run", path) as dag:
        tokenized = {job.wildcards["model"] for job in dag.jobs if job.rule.name == "tokenize"}
    assert tokenized == {"demo-tiny", "demo-small"}
