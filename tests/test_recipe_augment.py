"""A recipe trained on a perturbed copy of its task's data (recipes.<r>.augment), end to end."""

from __future__ import annotations

import json

import pytest
import yaml
from safetensors.torch import load_file

from workflow_runs import TINY, snakemake


@pytest.mark.slow
def test_a_recipe_trains_on_the_perturbed_copy_of_its_data(tmp_path):
    config = yaml.safe_load(TINY.read_text())
    for key in ("perturbations", "attacks"):
        config.pop(key)
    # A perturbation for training data alone: no benchmark is scored under it.
    config["perturbations"] = {"noisy": {"kind": "word_noise", "rate": 0.3, "benchmarks": []}}
    config["recipes"] = {"mnli": ["mnli"], "mnli_noisy": {"tasks": ["mnli"], "augment": {"mnli": "noisy"}},
                         # two epochs, each on its own draw
                         "mnli_fresh": {"tasks": ["mnli"], "augment": {"mnli": {"perturbation": "noisy", "draws": 2}},
                                        "training": {"epochs": 2}}}
    config["targets"] = {"mnli": ["xnli"]}
    config["retrieval"] = []
    (tmp_path / "augment.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, tmp_path / "augment.yaml")
    assert result.returncode == 0, result.stderr[-5000:]

    data = tmp_path / "results/data/mnli/train"
    clean = [json.loads(line) for line in (data / "en.jsonl").read_text().splitlines()]
    noisy = [json.loads(line) for line in (data / "noisy/en.jsonl").read_text().splitlines()]
    assert [row["id"] for row in clean] == [row["id"] for row in noisy]
    assert sum(a["text_a"] != b["text_a"] for a, b in zip(clean, noisy)) > len(clean) / 2
    second = [json.loads(line) for line in (data / "noisy@2/en.jsonl").read_text().splitlines()]
    assert [row["id"] for row in second] == [row["id"] for row in clean]
    assert sum(a["text_a"] != b["text_a"] for a, b in zip(noisy, second)) > len(clean) / 4, "a draw of its own"
    assert not list((tmp_path / "results/eval").rglob("noisy")), "no benchmark is scored under it"

    models = tmp_path / "results/models/tiny/intermediate"
    plain, augmented = (load_file(models / recipe / "seed1/model.safetensors") for recipe in ("mnli", "mnli_noisy"))
    assert any(not plain[name].equal(augmented[name]) for name in plain)
    summary = json.loads((models / "mnli_noisy/seed1/training_summary.json").read_text())
    assert summary["tasks"] == ["mnli"]


def test_a_recipe_reads_the_training_languages_and_the_copy_it_chooses(tmp_path):
    from workflow_runs import dry_run_dag

    config = yaml.safe_load(TINY.read_text())
    config.pop("attacks")
    config["recipes"] = {"mnli_de": {"tasks": ["mnli_mt"], "languages": {"mnli_mt": ["de"]}},
                         "all_typos": {"tasks": ["mnli_mt"], "augment": {"mnli_mt": "typos"}},
                         "fresh": {"tasks": ["mnli"], "augment": {"mnli": {"perturbation": "typos", "draws": 2}}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    with dry_run_dag(tmp_path, tmp_path / "c.yaml") as dag:
        inputs = {job.wildcards["recipe"]: sorted(str(f) for f in job.input if "/train/" in str(f))
                  for job in dag.jobs if job.rule.name == "intermediate"}
    assert inputs == {"mnli_de": ["results/features/tiny/mnli_mt/train/de.parquet"],
                      "all_typos": [f"results/features/tiny/mnli_mt/train/typos/{lang}.parquet" for lang in ("de", "en", "zh")],
                      "fresh": ["results/features/tiny/mnli/train/typos/en.parquet",
                                "results/features/tiny/mnli/train/typos@2/en.parquet"]}
