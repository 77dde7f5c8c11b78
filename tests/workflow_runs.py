"""Running the workflow from tests: a real run in a subprocess, and what a dry run would plan,
asked in this process through Snakemake's API (about a second each after the first, where a
`snakemake -n` subprocess pays its imports every time)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import (ConfigSettings, DAGSettings, OutputSettings, Quietness, ResourceSettings,
                                      StorageSettings)

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"


def snakemake_command(workdir: Path, configfile: Path, *args: str, cores: int = 2) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(configfile), "--cores", str(cores), *args]


def snakemake(workdir: Path, configfile: Path, *args: str, cores: int = 2,
              env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_command(workdir, configfile, *args, cores=cores), capture_output=True, text=True,
                          timeout=3600, env={**os.environ, **(env or {})})


@contextmanager
def dry_run_dag(workdir: Path, configfile: Path, *, forceall: bool = False):
    """The DAG of a dry run of `configfile` in `workdir`, in this process (the run marks every job it
    would run as finished)."""
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(cores=2),
                                config_settings=ConfigSettings(configfiles=[Path(configfile).resolve()]),
                                storage_settings=StorageSettings(), snakefile=ROOT / "Snakefile",
                                workdir=Path(workdir).resolve())
        workflow.dag(DAGSettings(forceall=forceall)).execute_workflow(executor="dryrun")
        yield workflow._workflow.dag


def planned_jobs(workdir: Path, configfile: Path, *, forceall: bool = False) -> Counter:
    """Job label (see job_label) -> number of jobs a dry run of `configfile` in `workdir` plans (`all` included when
    anything is planned); with `forceall`, every job of the workflow."""
    with dry_run_dag(workdir, configfile, forceall=forceall) as dag:
        # The dry run marks every job it would run as finished: ask for those too.
        return Counter(job_label(job) for job in dag.needrun_jobs(exclude_finished=False))


def consumers_of(workdir: Path, configfile: Path, rule: str) -> list[tuple[dict, set[str], set[str]]]:
    """Per job of `rule` in a dry run of everything: its wildcards, its temp() outputs, and the rules
    of the jobs that read its outputs (Snakemake deletes a temp() output once those have run)."""
    with dry_run_dag(workdir, configfile, forceall=True) as dag:
        return [(dict(job.wildcards), {str(out) for out in job.temp_output},
                 {consumer.rule.name for consumer in dag.depending[job]})
                for job in dag.jobs if job.rule.name == rule]


def job_label(job) -> str:
    """What a plan counts a job as: its rule, and for the one-rule stages also the (task, split)
    (`prepare/panx/test`, `index_features/panx/test`, `tokenize/panx/test/typos`, `perturb/panx/test/typos`) or
    the benchmark and condition (`evaluate/panx`, `evaluate/panx/typos`) it works on, so that a plan is as
    precise as one rule per split, benchmark and condition."""
    if job.rule.name in ("prepare", "tokenize", "index_features"):
        return f"{job.rule.name}/{job.wildcards.task}/{job.wildcards.split}"
    if job.rule.name == "perturb":
        return f"perturb/{job.wildcards.task}/{job.wildcards.split}/{job.wildcards.condition}"
    if job.rule.name == "evaluate":
        condition = job.wildcards.condition
        return f"evaluate/{job.wildcards.bench}" + ("" if condition == "clean" else f"/{condition}")
    return job.rule.name
