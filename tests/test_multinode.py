"""Training jobs on several nodes (resources.nodes_per_job): Slurm's host lists, the rendezvous read
from a task's environment, the srun line, the refusal outside Slurm, what the training rules ask the
Slurm plugin for, and a whole launch through a stand-in `srun` that starts the tasks on this machine
(no Slurm daemons here). The functions named `*_on_rank` run inside the workers, which import this
module by name."""

from __future__ import annotations

import os
import re
import socket
import stat
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from workflow_runs import TINY, dry_run_dag
from xstilts.runtime import DataParallelError, stage
from xstilts.scaling.multinode import (MultiNodeError, Rendezvous, SlurmWorkers, expand_nodelist, job_port,
                                       rendezvous_from_slurm, srun_command, srun_environment)
from xstilts.training import data_parallel_world


@pytest.mark.parametrize("text, hosts", [
    ("node01", ["node01"]),
    ("node[01-03,07]", ["node01", "node02", "node03", "node07"]),
    ("gpu-a[1-2],gpu-b3", ["gpu-a1", "gpu-a2", "gpu-b3"]),
    ("n[008-010]", ["n008", "n009", "n010"]),  # the width of the lower bound, kept past 009
    ("n[8-10]", ["n8", "n9", "n10"]),
    ("rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]),
    ("a[1-2]x,b", ["a1x", "a2x", "b"]),
])
def test_a_slurm_node_list_expands_as_scontrol_does(text, hosts):
    assert expand_nodelist(text) == hosts


@pytest.mark.parametrize("text, problem", [
    ("", "empty"), ("node[1-2", "without its ']'"), ("node1]", "without its '['"), ("n[a-b]", "not a number"),
    ("n[3-1]", "runs backwards"), ("a,,b", "empty name"), ("n[[1]]", "nest"), ("n[]", "not a number"),
])
def test_a_bad_node_list_is_refused_naming_it(text, problem):
    with pytest.raises(ValueError, match=re.escape(f"node list {text!r}") + ".*" + re.escape(problem)):
        expand_nodelist(text)


TASK = {"SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NTASKS": "8", "SLURM_JOB_ID": "4711",
        "SLURM_JOB_NODELIST": "gpu[07-08]"}


def test_a_tasks_slurm_environment_gives_its_rank_and_the_first_node_as_master():
    assert rendezvous_from_slurm(TASK) == Rendezvous(rank=5, local_rank=1, world_size=8, master_addr="gpu07",
                                                     master_port=10000 + 4711)
    # the step's own node list first: srun puts rank 0 on the step's first node
    assert rendezvous_from_slurm({**TASK, "SLURM_STEP_NODELIST": "gpu08"}).master_addr == "gpu08"
    overridden = rendezvous_from_slurm({**TASK, "MASTER_ADDR": "10.0.0.7", "MASTER_PORT": "29500"})
    assert (overridden.master_addr, overridden.master_port) == ("10.0.0.7", 29500)
    assert job_port("4711") != job_port("4712") and 1024 <= job_port("123456789") < 32768
    assert job_port("57_3") == job_port("57_3"), "an array job's id gives a port too"


def test_a_task_without_slurms_variables_is_refused_naming_them():
    with pytest.raises(MultiNodeError, match="SLURM_LOCALID, SLURM_NTASKS not set"):
        rendezvous_from_slurm({"SLURM_PROCID": "0", "SLURM_JOB_ID": "1", "SLURM_JOB_NODELIST": "n1"})
    with pytest.raises(MultiNodeError, match="SLURM_JOB_NODELIST, SLURM_JOB_ID not set"):
        rendezvous_from_slurm({"SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NTASKS": "1"})
    with pytest.raises(MultiNodeError, match="SLURM_PROCID is 'x', not an integer"):
        rendezvous_from_slurm({**TASK, "SLURM_PROCID": "x"})


def test_the_srun_line_starts_a_rank_per_gpu_on_every_node():
    command = srun_command(2, 4, 3, ["python", "-c", "work"])
    assert command[0] == "srun" and command[-3:] == ["python", "-c", "work"]
    flags = set(command[1:-3])
    assert {"--nodes=2", "--ntasks=8", "--ntasks-per-node=4", "--gpus-per-node=4", "--cpus-per-task=3",
            "--kill-on-bad-exit=1", "--overlap", "--distribution=block", "--gpu-bind=none"} == flags
    cpu_only = srun_command(2, 0, 1, ["w"])
    assert "--ntasks=2" in cpu_only and not any(flag.startswith("--gpu") for flag in cpu_only)


def test_the_step_does_not_inherit_the_settings_of_the_jobs_own_step():
    env = srun_environment({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1", "SLURM_CPUS_PER_TASK": "1",
                            "SRUN_CPUS_PER_TASK": "1", "CUDA_VISIBLE_DEVICES": "0", "HOME": "/h"}, gpus_per_node=4)
    assert env == {"SLURM_JOB_ID": "7", "HOME": "/h", "PYTHONUNBUFFERED": "1"}


def training_job(tmp_path, nodes):
    return SimpleNamespace(log=[str(tmp_path / "job.log")], params=SimpleNamespace(torch_threads=2),
                           resources=SimpleNamespace(gpu=0, gpu_slots=0),
                           config={"resources": {"gpus_per_job": 4, "nodes_per_job": nodes,
                                                 "gpu_lock_dir": str(tmp_path / "locks")}})


def test_a_job_on_several_nodes_needs_slurm_and_its_nodes(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    with pytest.raises(MultiNodeError, match="nodes_per_job is 2: .* only inside a Slurm allocation"):
        with stage(training_job(tmp_path, 2), data_parallel=True):
            pytest.fail("the job's work ran")
    monkeypatch.setenv("SLURM_JOB_ID", "9")
    monkeypatch.setenv("SLURM_JOB_NUM_NODES", "1")
    with pytest.raises(MultiNodeError, match="nodes_per_job is 2 but Slurm job 9 has 1 node"):
        with stage(training_job(tmp_path, 2), data_parallel=True):
            pytest.fail("the job's work ran")
    monkeypatch.setenv("SLURM_JOB_NUM_NODES", "2")
    with stage(training_job(tmp_path, 2), data_parallel=True) as workers:
        assert isinstance(workers, SlurmWorkers) and workers.count == 8


def slurm_asks(workdir: Path, configfile: Path) -> dict[str, set[tuple]]:
    """Rule -> what its jobs ask the Slurm plugin for (gpu, gres, nodes, tasks), in a dry run of everything."""
    asks: dict[str, set[tuple]] = {}
    with dry_run_dag(workdir, configfile, forceall=True) as dag:
        for job in dag.jobs:
            asks.setdefault(job.rule.name, set()).add(tuple(job.resources.get(name) for name in
                                                            ("gpu", "gres", "nodes", "tasks")))
    return asks


def test_training_rules_ask_slurm_for_the_nodes_and_their_gpus(tmp_path):
    config = yaml.safe_load(TINY.read_text())
    one = slurm_asks(tmp_path / "one", TINY)
    configfile = tmp_path / "two.yaml"
    configfile.write_text(yaml.safe_dump({**config, "resources": {"gpus_per_job": 4, "nodes_per_job": 2}}))
    two = slurm_asks(tmp_path / "two", configfile)
    for rule in ("pretrain", "intermediate", "target"):
        assert one[rule] == {(1, None, None, None)}, rule
        # --nodes=2 --gres=gpu:4 (per node) --ntasks-per-gpu=1 (the plugin's `tasks` for a GPU job)
        assert two[rule] == {(0, "gpu:4", 2, 1)}, rule
    assert one["evaluate"] == two["evaluate"] == {(1, None, None, None)}, "evaluation stays on one node and GPU"


# ---- a whole launch, through a stand-in srun ------------------------------------------------------

# Starts the --ntasks tasks of the step here, each with the environment srun gives a task on its node
# (the "nodes" are this machine, named localhost), and ends the others when one fails, as
# --kill-on-bad-exit=1 does.
FAKE_SRUN = textwrap.dedent("""\
    #!{python}
    import os, subprocess, sys, time
    args = sys.argv[1:]
    flags = dict(arg[2:].partition("=")[::2] for arg in args if arg.startswith("--"))
    command = [arg for arg in args if not arg.startswith("--")]
    nodes, per_node = int(flags["nodes"]), int(flags["ntasks-per-node"])
    assert flags["kill-on-bad-exit"] == "1" and int(flags["ntasks"]) == nodes * per_node
    assert not any(name.startswith("SLURM_") for name in os.environ if name != "SLURM_JOB_ID"), "unclean step env"
    tasks = []
    for rank in range(nodes * per_node):
        env = {{**os.environ, "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank % per_node),
               "SLURM_NTASKS": str(nodes * per_node), "SLURM_JOB_NODELIST": "localhost",
               "SLURM_NODEID": str(rank // per_node), "MASTER_PORT": "{port}"}}
        tasks.append(subprocess.Popen(command, env=env))
    while any(task.poll() is None for task in tasks):
        if any(task.poll() not in (None, 0) for task in tasks):
            for task in tasks:
                task.kill()
        time.sleep(0.1)
    sys.exit(max(task.returncode for task in tasks) or min(task.returncode for task in tasks))
""")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def fake_srun(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # gloo on the CPU on any machine
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    path = tmp_path / "srun"
    path.write_text(FAKE_SRUN.format(python=sys.executable, port=free_port()))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def where_am_i_on_rank(device):
    import torch

    rank, world_size = data_parallel_world()
    everyone = [None] * world_size
    torch.distributed.all_gather_object(everyone, rank)  # the process group works
    return {"rank": rank, "world_size": world_size, "local_rank": int(os.environ["LOCAL_RANK"]),
            "master": os.environ["MASTER_ADDR"], "device": str(device), "gathered": everyone,
            "threads": torch.get_num_threads()}


def test_two_nodes_ranks_started_by_srun_form_one_process_group(fake_srun, tmp_path):
    workers = SlurmWorkers(2, 0, 1, srun=fake_srun, shared_dir=tmp_path / "shared")
    ranks = workers.run(where_am_i_on_rank)
    assert [r["rank"] for r in ranks] == [0, 1] and {r["world_size"] for r in ranks} == {2}
    assert {r["local_rank"] for r in ranks} == {0}, "one rank on each node"
    assert {r["master"] for r in ranks} == {"localhost"}, "the first node of the node list"
    assert {r["device"] for r in ranks} == {"cpu"} and all(r["gathered"] == [0, 1] for r in ranks)
    assert list((tmp_path / "shared").iterdir()) == [], "the job's folder on the shared file system is gone"


def fail_on_rank_one(device):
    import torch

    if data_parallel_world()[0] == 1:
        raise ValueError("rank 1 cannot go on")
    torch.distributed.barrier()  # would wait for rank 1 for the whole collective timeout


def test_a_failing_rank_ends_the_step_and_names_its_error(fake_srun, tmp_path):
    workers = SlurmWorkers(2, 0, 1, srun=fake_srun, shared_dir=tmp_path / "shared")
    with pytest.raises(DataParallelError, match=r"worker 1 of 2 failed .*ValueError: rank 1 cannot go on"):
        workers.run(fail_on_rank_one)
