"""The workflow through `--profile profiles/slurm` on a real one-node Slurm (profiles/slurm/local_cluster.sh:
Debian's Slurm and munge, two fake GPUs as gres): every job is a Slurm job, the GPU jobs run on the devices
Slurm gave them, the results are a local run's byte for byte, and a rerun submits nothing.

The cluster needs root on Debian or Ubuntu; elsewhere the test skips, except where XSTILTS_REQUIRE_SLURM=1
(.ci/run sets it), where it fails."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from workflow_runs import ROOT, TINY, snakemake, snakemake_command

CLUSTER = ROOT / "profiles" / "slurm" / "local_cluster.sh"
# What a user of a small cluster changes (README, "Running on a cluster"): the profile's memory for the big
# rules is a GPU node's, more than this machine has; and a first status check after a second instead of five,
# since a tiny job's whole run takes seconds.
SMALL_NODE = ["--set-resources", *(f"{rule}:mem_mb=2000" for rule in
                                   ("pretrain", "intermediate", "target", "evaluate", "align", "import_model")),
              "--slurm-init-seconds-before-status-checks", "1"]
# Jobs of these rules claim GPUs (their `gpu` resource).
GPU_RULES = ("pretrain", "intermediate", "target", "evaluate")
# The workflow's `localrules`: run by Snakemake itself, never a cluster job.
LOCAL_RULES = {"all", "index_features"}
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+)")
ALLOCATION = re.compile(r"\[xstilts\] Slurm job (\d+) on \S+: CPUs=\S+, CUDA_VISIBLE_DEVICES=(\S+)")


def slurm_config(tiny: dict) -> dict:
    """tests/configs/tiny.yaml cut to one job of each GPU rule and of each data rule: pre-training, an
    intermediate stage, a target, its benchmark (XNLI) and the pretrained encoder's (Tatoeba). Every Slurm
    job is a fresh process that parses the workflow twice (the batch script's Snakemake, then the job
    step's) before its own work: about 6 s for a job of a second, so the whole tiny grid took 9 min 38 s
    through Slurm against 38 s locally (every result equal). The perturbations and attacks left out run the
    same evaluation code on sets drawn from string seeds (tests/test_robustness_sets.py)."""
    config = {key: value for key, value in tiny.items() if key not in ("perturbations", "attacks")}
    config["recipes"] = {"none": [], "mnli": ["mnli"]}
    config["targets"] = {"mnli": ["xnli"]}
    config["retrieval"] = ["tatoeba"]
    return config


def profile_run(workdir: Path, configfile: Path) -> subprocess.CompletedProcess:
    return snakemake(workdir, configfile, "--profile", str(ROOT / "profiles" / "slurm"), *SMALL_NODE)


# ---- the profile run, started in the background when the session starts ---------------------------
# Most of its three minutes are the plugin's waits between status checks (they grow by 10 s while no job
# has finished), so conftest.py starts it as soon as the session has collected this module's tests, where
# the cluster is up, and it runs beside the rest of the suite; `slurm_run` waits for it.
BACKGROUND: dict = {}
SQUEUE = ["squeue", "--states=all", "--noheader", "--format=%i %T"]
STATES = "slurm-states.txt"


def cluster_running() -> bool:
    return shutil.which("sbatch") is not None and subprocess.run(
        ["bash", str(CLUSTER), "status"], capture_output=True).returncode == 0


def start_background_run(folder: Path) -> None:
    """Start the cut of tiny.yaml through the profile in `folder`, its output to a file."""
    (folder / "slurm.yaml").write_text(yaml.safe_dump(slurm_config(yaml.safe_load(TINY.read_text()))))
    output = open(folder / "profile-run.out", "w")
    command = snakemake_command(folder, folder / "slurm.yaml", "--profile", str(ROOT / "profiles" / "slurm"), *SMALL_NODE)
    # Slurm's record of the jobs as the run ends: squeue forgets an ended job after MinJobAge (300 s), and
    # the tests that read it may come later than that.
    script = (f"{shlex.join(command)}; code=$?; {shlex.join(SQUEUE)} > {shlex.quote(str(folder / STATES))}; "
              "exit $code")
    BACKGROUND.update(folder=folder, output=output, process=subprocess.Popen(["bash", "-c", script], stdout=output,
                                                                              stderr=subprocess.STDOUT))


def job_states(workdir: Path) -> dict[str, str]:
    """Slurm job id -> its state: as recorded when the background run ended, else squeue's now."""
    recorded = workdir / STATES
    lines = recorded.read_text() if recorded.exists() else subprocess.run(
        SQUEUE, capture_output=True, text=True, check=True).stdout
    return dict(line.split() for line in lines.splitlines())


def stop_background_run() -> None:
    if BACKGROUND and BACKGROUND["process"].poll() is None:
        BACKGROUND["process"].kill()
        BACKGROUND["process"].wait()
    if BACKGROUND:
        BACKGROUND["output"].close()


# ---- what the test checks, each a function so that it can be shown to catch a local run ---------------
def submitted_jobs(output: str) -> list[str]:
    return SUBMITTED.findall(output)


def bypassed_jobs(output: str) -> list[str]:
    """Problems with the claim that every job of a run (its Snakemake output) went through sbatch."""
    rules = re.findall(r"^(local)?rule (\w+):$", output, flags=re.MULTILINE)
    problems = [f"{rule} ran on the submitting machine" for local, rule in rules if local and rule not in LOCAL_RULES]
    cluster_jobs = sum(1 for local, _ in rules if not local)
    if cluster_jobs == 0 or len(submitted_jobs(output)) != cluster_jobs:
        problems.append(f"{cluster_jobs} cluster jobs, {len(submitted_jobs(output))} sbatch submissions")
    return problems


def devices_not_from_slurm(workdir: Path, job_ids: list[str]) -> list[str]:
    """Problems with the claim that every GPU job ran in its own Slurm job on the GPU Slurm gave it."""
    problems, seen = [], []
    logs = [log for rule in GPU_RULES for log in sorted((workdir / "results" / "logs" / rule).rglob("*.log"))]
    for log in logs:
        found = ALLOCATION.findall(log.read_text())
        if len(found) != 1 or found[0][0] not in job_ids or found[0][1] not in ("0", "1"):
            problems.append(f"{log.relative_to(workdir)}: {found or 'no Slurm allocation'}")
        seen += [job for job, _ in found]
    if not logs or len(set(seen)) != len(seen):
        problems.append(f"{len(logs)} GPU job logs, Slurm jobs {seen}")
    return problems


def differing_results(run: Path, reference: Path) -> tuple[int, list[str]]:
    """(files compared, those that differ): every result of `run` against the same file of `reference`;
    logs, timings and the report (which shows the grid that ran) left out, and a training summary's
    wall-clock seconds."""
    compared, differ = 0, []
    for path in sorted((run / "results").rglob("*")):
        name = path.relative_to(run)
        if not path.is_file() or name.parts[1] in ("logs", "benchmarks", "report"):
            continue
        compared += 1
        other = reference / name
        if not other.is_file():
            differ.append(f"{name} (not in the reference run)")
        elif path.name == "training_summary.json":
            if _without_seconds(path) != _without_seconds(other):
                differ.append(str(name))
        elif path.read_bytes() != other.read_bytes():
            differ.append(str(name))
    return compared, differ


def _without_seconds(path: Path) -> dict:
    return {key: value for key, value in json.loads(path.read_text()).items() if key != "seconds"}


# ---- the cluster ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def slurm_cluster():
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        reason = "a Slurm cluster of its own needs root on Debian or Ubuntu (profiles/slurm/local_cluster.sh)"
        if os.environ.get("XSTILTS_REQUIRE_SLURM") == "1":
            pytest.fail(reason + "; XSTILTS_REQUIRE_SLURM=1 asks for it")
        pytest.skip(reason)
    if shutil.which("sbatch") is None:
        subprocess.run(["bash", str(CLUSTER), "install"], check=True)
    was_running = subprocess.run(["bash", str(CLUSTER), "status"]).returncode == 0
    subprocess.run(["bash", str(CLUSTER), "start"], check=True)
    yield
    if not was_running:  # .ci/run starts it for the whole suite (local_cluster.sh says why)
        subprocess.run(["bash", str(CLUSTER), "stop"], check=False)


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, finished_tiny_run, tmp_path_factory):
    """The cut of tiny.yaml run through the profile once for the module: (workdir, Snakemake's output);
    the run the session started in the background where there is one."""
    if BACKGROUND:
        returncode = BACKGROUND["process"].wait()
        BACKGROUND["output"].close()
        output = (BACKGROUND["folder"] / "profile-run.out").read_text()
        assert returncode == 0, output[-5000:]
        return BACKGROUND["folder"], output
    _, tiny = finished_tiny_run
    workdir = tmp_path_factory.mktemp("slurm-run")
    (workdir / "slurm.yaml").write_text(yaml.safe_dump(slurm_config(yaml.safe_load(tiny.read_text()))))
    result = profile_run(workdir, workdir / "slurm.yaml")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir, result.stdout + result.stderr


@pytest.mark.slow
def test_the_workflow_through_slurm_is_the_local_run(slurm_run, finished_tiny_run):
    local, tiny = finished_tiny_run
    tmp_path, output = slurm_run
    job_ids = submitted_jobs(output)

    assert not bypassed_jobs(output), bypassed_jobs(output)
    # Slurm's own record: every submitted job finished (squeue keeps ended jobs for MinJobAge seconds).
    states = job_states(tmp_path)
    assert {states.get(job) for job in job_ids} == {"COMPLETED"}, {job: states.get(job) for job in job_ids}
    assert not devices_not_from_slurm(tmp_path, job_ids), devices_not_from_slurm(tmp_path, job_ids)
    # Every job a fresh process (xstilts.warm stays off under Slurm), against the local run's warm ones:
    # the equality below is also the check that a cold start changes no result.
    warm_line = "[xstilts] warm: forked from a server"
    assert warm_line in (local / "results/logs/pretrain/tiny.log").read_text()
    assert not [log for log in (tmp_path / "results/logs").rglob("*.log") if warm_line in log.read_text()]
    compared, differ = differing_results(tmp_path, local)
    assert compared > 50 and not differ, differ

    # The same checks catch a run that bypassed the scheduler: the local run itself.
    local_output = snakemake(local, tiny, "--forceall", "--dry-run").stdout
    assert bypassed_jobs(local_output)
    assert devices_not_from_slurm(local, job_ids)

    rerun = profile_run(tmp_path, tmp_path / "slurm.yaml")
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    assert "Nothing to be done" in rerun.stdout + rerun.stderr
    assert not submitted_jobs(rerun.stdout + rerun.stderr)


@pytest.mark.slow
def test_a_two_gpu_training_job_trains_data_parallel_on_the_gpus_slurm_gave_it(slurm_run, tmp_path):
    """`resources.gpus_per_job: 2` through the profile: the plugin asks for --gpus=2, Slurm sets both fake
    GPUs in CUDA_VISIBLE_DEVICES, and the training job starts its two data-parallel workers on them (gloo on
    the CPU, since no CUDA device is behind the fake ones) inside its allocation."""
    workdir, _ = slurm_run  # its data and pretrained model; `gpus_per_job` retrains nothing by itself
    config = yaml.safe_load((workdir / "slurm.yaml").read_text())
    config["resources"] = {**config["resources"], "gpus_per_job": 2}
    (tmp_path / "two_gpus.yaml").write_text(yaml.safe_dump(config))
    target = "results/models/tiny/target/none/mnli/seed1/training_summary.json"
    result = snakemake(workdir, tmp_path / "two_gpus.yaml", "--profile", str(ROOT / "profiles" / "slurm"),
                       *SMALL_NODE, target, "--forcerun", "target")
    assert result.returncode == 0, result.stderr[-5000:]
    log = (workdir / "results/logs/target/tiny/none/mnli/seed1.log").read_text()
    job_ids = submitted_jobs(result.stdout + result.stderr)
    assert [job for job, devices in ALLOCATION.findall(log) if devices == "0,1"] and \
        ALLOCATION.findall(log)[0][0] in job_ids, log[:2000]
    assert "data-parallel training on the claimed GPUs ['0', '1']" in log and "worker 1 of 2" in log
    assert json.loads((workdir / target).read_text())["data_parallel_ranks"] == 2
    assert len(submitted_jobs(result.stdout + result.stderr)) == 1, "the target alone, retrained"


def test_differing_results_sees_a_changed_byte_and_ignores_timings(tmp_path):
    for run, (score, seconds) in {"a": (b"71.5", 1.5), "b": (b"71.6", 9.0)}.items():
        (tmp_path / run / "results" / "eval").mkdir(parents=True)
        (tmp_path / run / "results" / "eval" / "scores.json").write_bytes(score)
        (tmp_path / run / "results" / "training_summary.json").write_text(json.dumps({"steps": 3, "seconds": seconds}))
    assert differing_results(tmp_path / "a", tmp_path / "b") == (2, ["results/eval/scores.json"])


def test_the_slurm_profile_is_not_overridden_by_the_workflow_profile(monkeypatch):
    """profiles/default is read by every run from this folder and overrides `--profile`: a machine's cores or
    GPU count there would reach every Slurm run (Snakemake then caps the cluster's jobs by them)."""
    from snakemake.cli import parse_args

    monkeypatch.chdir(ROOT)
    _, slurm = parse_args(["--profile", "profiles/slurm"])
    assert (slurm.executor, slurm.cores, slurm.resources, slurm.slurm_status_command) == ("slurm", None, {}, "squeue")
    assert slurm.printshellcmds and slurm.default_resources["mem_mb"].value == 4000
    _, local = parse_args(["--profile", "profiles/local"])
    assert (local.executor, local.cores, local.resources["gpu"].value) == (None, 8, 4)
