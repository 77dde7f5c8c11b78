"""Running the workflow from tests: a real run in a subprocess, and what a dry run would plan,
asked in this process through Snakemake's API (about a second each after the first, where a
`snakemake -n` subprocess pays its imports every time)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import (ConfigSettings, DAGSettings, OutputSettings, Quietness, ResourceSettings,
                                      StorageSettings)

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"


def snakemake(workdir: Path, configfile: Path, *args: str, cores: int = 2) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(configfile), "--cores", str(cores), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=3600)


def planned_jobs(workdir: Path, configfile: Path, *, forceall: bool = False) -> Counter:
    """Rule -> number of jobs a dry run of `configfile` in `workdir` plans (`all` included when
    anything is planned); with `forceall`, every job of the workflow."""
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(cores=2),
                                config_settings=ConfigSettings(configfiles=[Path(configfile).resolve()]),
                                storage_settings=StorageSettings(), snakefile=ROOT / "Snakefile",
                                workdir=Path(workdir).resolve())
        dag = workflow.dag(DAGSettings(forceall=forceall))
        dag.execute_workflow(executor="dryrun")
        # The dry run marks every job it would run as finished: ask for those too.
        return Counter(job.rule.name for job in workflow._workflow.dag.needrun_jobs(exclude_finished=False))
