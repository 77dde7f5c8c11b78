import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_finish(session):
    """Where the Slurm run's tests are selected and the test cluster is up, start that run now, in the
    background (tests/test_slurm.py: it mostly waits on the scheduler)."""
    if not any(item.nodeid.startswith("tests/test_slurm.py::test_the_workflow_through_slurm") or
               item.nodeid.startswith("test_slurm.py::test_the_workflow_through_slurm") for item in session.items):
        return
    import test_slurm

    if test_slurm.cluster_running():
        test_slurm.start_background_run(session.config._tmp_path_factory.mktemp("slurm-run"))


def pytest_sessionfinish(session):
    import sys

    if "test_slurm" in sys.modules:
        sys.modules["test_slurm"].stop_background_run()


@pytest.fixture
def demo_config() -> dict:
    """The demo with its model pre-trained in the workflow (configs/demo_model.yaml: config.yaml
    reads the same model, shipped), so that config tests reach every pretrain setting."""
    return copy.deepcopy(yaml.safe_load((ROOT / "configs" / "demo_model.yaml").read_text()))


@pytest.fixture(scope="session")
def finished_tiny_run(tmp_path_factory):
    """tests/configs/tiny.yaml run to the end once for the whole session: (workdir, config). Tests
    that change it work on a copy."""
    from workflow_runs import TINY, snakemake

    workdir = tmp_path_factory.mktemp("tiny-run")
    config = workdir / "tiny.yaml"
    config.write_text(TINY.read_text())
    result = snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir, config


@pytest.fixture(scope="session")
def finished_demo_run(tmp_path_factory):
    """config.yaml (the demo) run from scratch once for the whole session, at --cores 2: its folder.
    Its trained checkpoints are the ones the attack tests read."""
    from workflow_runs import snakemake

    workdir = tmp_path_factory.mktemp("demo-run")
    result = snakemake(workdir, ROOT / "config.yaml", cores=2)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir
