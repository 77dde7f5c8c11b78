"""The demo's numbers are a property of the commit: a run from scratch reproduces the committed
tables (tests/expected/demo/) exactly, and the README shows those tables. That neither the jobs run
beside a job nor a cold start moves a result is tests/test_slurm.py's check (every job there a fresh
process, against a local run's warm ones)."""

from __future__ import annotations

import pytest

from demo_expected import README, differences, readme_block
from workflow_runs import ROOT


def test_readme_shows_the_committed_demo_tables():
    assert readme_block() in README.read_text(encoding="utf-8"), \
        "README's demo tables differ from tests/expected/demo/: run `python tests/demo_expected.py update <report>`"


@pytest.mark.slow
def test_the_demo_from_scratch_reproduces_the_committed_tables(finished_demo_run):
    diff = differences(finished_demo_run / "results" / "report")
    assert not diff, "the demo's numbers moved:\n" + diff


def test_the_seed_spread_config_is_the_demo_with_more_seeds():
    import yaml

    demo = yaml.safe_load((ROOT / "config.yaml").read_text())
    seeds = yaml.safe_load((ROOT / "configs" / "demo_seeds.yaml").read_text())
    assert set(seeds["recipes"]) <= set(demo["recipes"]) and len(seeds["seeds"]) >= 5
    for key in set(demo) | set(seeds):
        if key not in ("recipes", "seeds", "report", "run_name"):
            assert seeds.get(key) == demo.get(key), f"configs/demo_seeds.yaml differs from config.yaml in '{key}'"
