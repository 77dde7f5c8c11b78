"""The demo's numbers are a property of the commit: a run from scratch reproduces the committed
tables (tests/expected/demo/) exactly, whatever --cores says, and the README shows those tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from demo_expected import README, differences, readme_block
from workflow_runs import ROOT, snakemake


def test_readme_shows_the_committed_demo_tables():
    assert readme_block() in README.read_text(encoding="utf-8"), \
        "README's demo tables differ from tests/expected/demo/: run `python tests/demo_expected.py update <report>`"


@pytest.mark.slow
def test_the_demo_from_scratch_reproduces_the_committed_tables(finished_demo_run):
    diff = differences(finished_demo_run / "results" / "report")
    assert not diff, "the demo's numbers moved:\n" + diff


@pytest.mark.slow
def test_one_core_gives_the_results_of_two(finished_tiny_run, tmp_path):
    """The clean evaluation results of tests/configs/tiny.yaml at --cores 1, every job a fresh process
    (XSTILTS_WARM=0), equal the --cores 2 run's, whose torch jobs ran warm (xstilts.warm). Every cold job
    start costs seconds (most of each of these jobs), so the cold run keeps the recipe `none` and two
    benchmarks that read its checkpoints, a target's (XNLI) and the pretrained encoder's own (Tatoeba);
    pre-training and the data stages run in full. A job's torch threads are the rule's, not what --cores
    leaves it (xstilts.runtime.stage), and the recipes left out run the same training and evaluation code,
    so what --cores changes for them is only which jobs ran beside theirs. The perturbations and
    attacks are left out: the sets are pure Python drawn from string seeds
    (tests/test_robustness_sets.py), their evaluations the same code as the clean ones, and an attack's
    search does not depend on its batch (tests/test_robustness_word_attack.py)."""
    two_cores, config = finished_tiny_run
    warm_line = "[xstilts] warm: forked from a server"
    assert warm_line in (two_cores / "results/logs/pretrain/tiny.log").read_text()
    cold = yaml.safe_load(config.read_text())
    for key in ("perturbations", "attacks"):
        cold.pop(key)
    cold["recipes"] = {"none": []}
    cold["targets"] = {"mnli": ["xnli"]}
    cold["retrieval"] = ["tatoeba"]
    (tmp_path / "cold.yaml").write_text(yaml.safe_dump(cold))
    result = snakemake(tmp_path, tmp_path / "cold.yaml", cores=1, env={"XSTILTS_WARM": "0"})
    assert warm_line not in (tmp_path / "results/logs/pretrain/tiny.log").read_text()
    assert result.returncode == 0, result.stderr[-5000:]
    files = sorted(p.relative_to(tmp_path) for p in (tmp_path / "results" / "eval").rglob("clean/*/*.json"))
    assert len(files) == 2  # a scores file per benchmark
    for name in files:
        assert json.loads((tmp_path / name).read_text()) == json.loads((two_cores / name).read_text()), name


def test_the_seed_spread_config_is_the_demo_with_more_seeds():
    import yaml

    demo = yaml.safe_load((ROOT / "config.yaml").read_text())
    seeds = yaml.safe_load((ROOT / "configs" / "demo_seeds.yaml").read_text())
    assert set(seeds["recipes"]) <= set(demo["recipes"]) and len(seeds["seeds"]) >= 5
    for key in set(demo) | set(seeds):
        if key not in ("recipes", "seeds", "report", "run_name"):
            assert seeds.get(key) == demo.get(key), f"configs/demo_seeds.yaml differs from config.yaml in '{key}'"
