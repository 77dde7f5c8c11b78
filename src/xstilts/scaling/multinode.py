"""Training jobs on several nodes of a Slurm allocation (resources.nodes_per_job).

A job on one node starts its ranks itself (xstilts.runtime.launch_data_parallel). A job on several
cannot: its process runs on one node of the allocation, and only Slurm starts processes on the
others. So it runs one `srun` step with a task per GPU on every node; each task maps Slurm's
environment (SLURM_PROCID, ...) to torchrun's (RANK, ...) and runs the same worker as a local rank.
The job's function, its arguments and the ranks' results and tracebacks travel through a folder on
the shared file system the workflow already needs, since /tmp is each node's own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Callable, Mapping, NamedTuple

from .. import runtime

# Where the ranks of a job meet, in the workflow's folder: every node sees it (see the module's docstring).
SHARED_WORKER_DIR = "results/.workers"
# Where a step's rank 0 serves the rendezvous store when nothing says otherwise: one port per job,
# below Linux's ephemeral ports (32768 and up), so that no outgoing connection holds it by chance.
PORT_BASE, PORT_SPAN = 10000, 20000
# Where the nodes of the current step, or of the job, are listed: srun puts rank 0 on the first node
# of its step, which is the first of the job's when the step spans the whole allocation.
NODELIST_VARIABLES = ("SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST")
# What the nested srun keeps of Slurm's environment: the allocation's identity. The rest describes the
# job step this process runs in (one task, its CPUs and GPUs), and srun would take it as defaults for
# the new step; snakemake-executor-plugin-slurm-jobstep cleans its own srun's environment the same way.
SLURM_IDENTITY = ("SLURM_JOB_ID", "SLURM_JOBID", "SLURM_CLUSTER_NAME", "SLURM_SUBMIT_DIR", "SLURM_SUBMIT_HOST")


class MultiNodeError(RuntimeError):
    """A job on several nodes cannot start: no Slurm allocation, too few nodes, or a task that lacks
    the environment srun gives it."""


class Rendezvous(NamedTuple):
    """Where one rank stands in a job and where the ranks meet: torchrun's environment."""
    rank: int
    local_rank: int
    world_size: int
    master_addr: str
    master_port: int


# ---- Slurm's host lists ------------------------------------------------------------------------


def expand_nodelist(text: str) -> list[str]:
    """The host names of a Slurm host list, in the order `scontrol show hostnames` gives them:
    "node[01-03,07]" is node01 node02 node03 node07 (a bound's zero padding is kept), "a[1-2],b3" is
    a1 a2 b3, and "rack[1-2]-n[1-2]" is rack1-n1 rack1-n2 rack2-n1 rack2-n2 (the first group varies
    slowest). ValueError naming the text for anything else."""
    if not text or not text.strip():
        raise ValueError(f"Slurm node list {text!r} is empty")
    hosts: list[str] = []
    for entry in _split_entries(text):
        hosts.extend(_expand_entry(entry, text))
    return hosts


def _split_entries(text: str) -> list[str]:
    """The comma-separated names of a host list; commas inside brackets separate ranges instead."""
    entries, current, depth = [], "", 0
    for char in text.strip():
        if char == "[":
            depth += 1
            if depth > 1:
                raise ValueError(f"Slurm node list {text!r}: brackets nest")
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"Slurm node list {text!r}: ']' without its '['")
        if char == "," and depth == 0:
            entries.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise ValueError(f"Slurm node list {text!r}: '[' without its ']'")
    entries.append(current)
    if any(not entry for entry in entries):
        raise ValueError(f"Slurm node list {text!r}: an empty name between commas")
    return entries


def _expand_entry(entry: str, text: str) -> list[str]:
    """One name with any number of bracket groups: the cross product, the first group outermost."""
    if any(char.isspace() for char in entry):
        raise ValueError(f"Slurm node list {text!r}: a space in the name {entry!r}")
    opening = entry.find("[")
    if opening < 0:
        return [entry]
    closing = entry.index("]", opening)
    prefix, group, rest = entry[:opening], entry[opening + 1:closing], entry[closing + 1:]
    tails = _expand_entry(rest, text) if rest else [""]
    return [f"{prefix}{number}{tail}" for number in _expand_group(group, text) for tail in tails]


def _expand_group(group: str, text: str) -> list[str]:
    """"01-03,7" -> 01 02 03 7: each range as wide as its lower bound is written."""
    numbers = []
    for part in group.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValueError(f"Slurm node list {text!r}: {part!r} in [{group}] is not a number or a range a-b")
        low, high = match.group(1), match.group(2) or match.group(1)
        if int(high) < int(low):
            raise ValueError(f"Slurm node list {text!r}: the range {part!r} runs backwards")
        numbers.extend(str(number).zfill(len(low)) for number in range(int(low), int(high) + 1))
    return numbers


# ---- inside a task that srun started -----------------------------------------------------------


def rendezvous_from_slurm(environ: Mapping[str, str]) -> Rendezvous:
    """This task's rank, its rank on its node and the number of ranks (SLURM_PROCID, SLURM_LOCALID,
    SLURM_NTASKS), and where rank 0 serves the store: the first node of the step (or of the job) on a
    port derived from SLURM_JOB_ID, unless MASTER_ADDR or MASTER_PORT say otherwise (torchrun's names,
    for a cluster whose nodes reach each other under other names, or a port the site reserves)."""
    needed = ("SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS")
    missing = [name for name in needed if name not in environ]
    if "MASTER_ADDR" not in environ and not any(name in environ for name in NODELIST_VARIABLES):
        missing.append("SLURM_JOB_NODELIST")
    if "MASTER_PORT" not in environ and "SLURM_JOB_ID" not in environ:
        missing.append("SLURM_JOB_ID")
    if missing:
        raise MultiNodeError(f"not a task that srun started: {', '.join(missing)} not set")
    rank, local_rank, world_size = (_integer(environ, name) for name in needed)
    if not 0 <= rank < world_size:
        raise MultiNodeError(f"SLURM_PROCID {rank} is outside the step's {world_size} tasks (SLURM_NTASKS)")
    return Rendezvous(rank, local_rank, world_size, _master_addr(environ), _master_port(environ))


def _master_addr(environ: Mapping[str, str]) -> str:
    if "MASTER_ADDR" in environ:
        return environ["MASTER_ADDR"]
    listed = next(name for name in NODELIST_VARIABLES if name in environ)
    return expand_nodelist(environ[listed])[0]


def _master_port(environ: Mapping[str, str]) -> int:
    if "MASTER_PORT" in environ:
        port = _integer(environ, "MASTER_PORT")
        if not 0 < port < 65536:
            raise MultiNodeError(f"MASTER_PORT {port} is not a TCP port (1-65535)")
        return port
    return job_port(environ["SLURM_JOB_ID"])


def job_port(job_id: str) -> int:
    """The store's port of a job: the same on every node without any exchange, and different for
    consecutive jobs, which may share a node (a hash for array jobs' ids such as "57_3")."""
    number = int(job_id) if job_id.isdigit() else zlib.crc32(job_id.encode())
    return PORT_BASE + number % PORT_SPAN


def _integer(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ[name])
    except ValueError:
        raise MultiNodeError(f"{name} is {environ[name]!r}, not an integer") from None


def torchrun_environment(rendezvous: Rendezvous) -> dict[str, str]:
    """torchrun's variables for a rank, which the worker (xstilts.runtime.run_worker) reads."""
    return {"RANK": str(rendezvous.rank), "LOCAL_RANK": str(rendezvous.local_rank),
            "WORLD_SIZE": str(rendezvous.world_size), "MASTER_ADDR": rendezvous.master_addr,
            "MASTER_PORT": str(rendezvous.master_port)}


def run_slurm_worker(folder: str) -> None:
    """The entry of every task of the step: Slurm's environment to torchrun's, then the local
    launcher's worker. No launcher process holds the store here, so rank 0 serves it."""
    os.environ.update(torchrun_environment(rendezvous_from_slurm(os.environ)))
    os.environ[runtime.STORE_ON_RANK0] = "1"
    runtime.run_worker(folder)


# ---- in the job's process ------------------------------------------------------------------------


def srun_command(nodes: int, gpus_per_node: int, cpus_per_task: int, worker: list[str], *,
                 srun: str = "srun") -> list[str]:
    """The srun line that starts one rank per GPU on each of `nodes` nodes (one per node without GPUs),
    each running `worker`."""
    if nodes < 1 or gpus_per_node < 0 or cpus_per_task < 1:
        raise ValueError(f"srun needs nodes >= 1, GPUs per node >= 0 and CPUs per task >= 1, "
                         f"got {nodes}, {gpus_per_node}, {cpus_per_task}")
    ranks_per_node = max(1, gpus_per_node)
    command = [srun, f"--nodes={nodes}", f"--ntasks={nodes * ranks_per_node}",
               f"--ntasks-per-node={ranks_per_node}", f"--cpus-per-task={cpus_per_task}",
               # ranks 0..k-1 on the first node, where rank 0 serves the store (rendezvous_from_slurm)
               "--distribution=block",
               # the job's own step (its Snakemake process, this one) holds CPUs of the first node
               "--overlap",
               # one rank that fails ends them all, instead of leaving them in a collective for an hour
               "--kill-on-bad-exit=1"]
    if gpus_per_node:
        # Every rank sees all its node's GPUs and takes cuda:LOCAL_RANK, as under torchrun: NCCL's
        # direct transfers between GPUs of a node need each process to see the other's device.
        command += [f"--gpus-per-node={gpus_per_node}", "--gpu-bind=none"]
    return command + list(worker)


def srun_environment(environ: Mapping[str, str], gpus_per_node: int) -> dict[str, str]:
    """What srun passes on to the tasks: this process's environment without the settings of its own
    job step (see SLURM_IDENTITY), nor, where the step has GPUs, the devices this process saw."""
    dropped = ("SRUN_", "SBATCH_")
    env = {name: value for name, value in environ.items()
           if not (name.startswith("SLURM_") and name not in SLURM_IDENTITY) and not name.startswith(dropped)}
    if gpus_per_node:  # Slurm sets each task's own
        env.pop("CUDA_VISIBLE_DEVICES", None)
        env.pop("XSTILTS_CLAIMED_DEVICES", None)
    env.pop(runtime.LAUNCHER_PID, None)
    env["PYTHONUNBUFFERED"] = "1"  # the ranks' lines reach the job's log as they are written
    return env


def allocation_nodes(environ: Mapping[str, str]) -> int | None:
    """How many nodes the job's allocation has, where Slurm says it."""
    for name in ("SLURM_JOB_NUM_NODES", "SLURM_NNODES"):
        if environ.get(name, "").isdigit():
            return int(environ[name])
    return None


def slurm_workers(environ: Mapping[str, str], nodes: int, gpus_per_node: int, threads: int) -> SlurmWorkers:
    """The workers of a training job on `nodes` nodes, after checking that it runs in a Slurm
    allocation that has them; MultiNodeError, before any work, where it does not."""
    if "SLURM_JOB_ID" not in environ:
        raise MultiNodeError(
            f"resources.nodes_per_job is {nodes}: a job on several nodes starts its ranks with Slurm's srun, "
            "so it runs only inside a Slurm allocation (snakemake --profile profiles/slurm), and SLURM_JOB_ID "
            "is not set here; set resources.nodes_per_job to 1 for a run on one machine")
    given = allocation_nodes(environ)
    if given is not None and given < nodes:
        raise MultiNodeError(
            f"resources.nodes_per_job is {nodes} but Slurm job {environ['SLURM_JOB_ID']} has {given} node(s): "
            "the training rules ask for the nodes only through the Slurm profile (rules/common.smk)")
    return SlurmWorkers(nodes, gpus_per_node, threads)


class SlurmWorkers:
    """Where a training stage of a job on several nodes runs: one srun task per GPU of every node
    (the same interface as xstilts.runtime.Workers)."""

    def __init__(self, nodes: int, gpus_per_node: int, threads: int, *, srun: str = "srun",
                 shared_dir: str | os.PathLike = SHARED_WORKER_DIR):
        self.nodes, self.gpus_per_node, self.threads = nodes, gpus_per_node, max(1, threads)
        self.srun, self.shared_dir = srun, Path(shared_dir)

    @property
    def count(self) -> int:
        return self.nodes * max(1, self.gpus_per_node)

    def run(self, fn: Callable, **kwargs) -> list:
        """fn(device=..., **kwargs) on every rank; their return values in rank order; DataParallelError
        with the first failing rank's traceback."""
        self.shared_dir.mkdir(parents=True, exist_ok=True)
        prefix = f"job{os.environ.get('SLURM_JOB_ID', 'local')}-"
        with tempfile.TemporaryDirectory(prefix=prefix, dir=self.shared_dir) as folder:
            folder = Path(folder)
            runtime.write_spec(folder, fn, kwargs, self.threads)
            worker = runtime.worker_command(folder, module=__name__, function="run_slurm_worker")
            command = srun_command(self.nodes, self.gpus_per_node, self.threads, worker, srun=self.srun)
            print(f"[xstilts] data-parallel training on {self.nodes} nodes, {self.count} ranks: "
                  f"{' '.join(command[:len(command) - len(worker)])} ...", file=sys.stderr)
            runtime._flush_output()  # the ranks write to the same log, through srun
            step = subprocess.Popen(command, env=srun_environment(os.environ, self.gpus_per_node),
                                    stdout=runtime._file_descriptor(sys.stdout),
                                    stderr=runtime._file_descriptor(sys.stderr))
            try:
                code = step.wait()
            finally:
                runtime._stop([step])  # this job killed: srun then ends the step on every node
            if code != 0:
                raise runtime.DataParallelError(self._failure(folder, code))
            return runtime.collect_results(folder, self.count)

    def _failure(self, folder: Path, code: int) -> str:
        """The first rank's traceback, when one recorded it; else srun's exit (its own message is in the log)."""
        failed = [rank for rank in range(self.count) if (folder / f"error-{rank}.txt").exists()]
        if not failed:
            return (f"srun exited with code {code} before any of the {self.count} ranks recorded an error "
                    "(srun's own message is in the log above)")
        return runtime._failure_message(runtime._first_failure(failed, folder), code, self.count, folder)
