"""What every stage script does around its work: log to the rule's log file, use the rule's
thread count, claim its GPUs, and pick the torch device; for a training stage on several
claimed GPUs, run it data-parallel in one process per device (on several nodes of a Slurm
allocation with resources.nodes_per_job: xstilts.scaling.multinode)."""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, Iterator

LOOPBACK = "127.0.0.1"  # the workers of a job share one machine
# Generous: rank 0 alone evaluates dev and writes the resumable state while the other ranks wait
# in their next collective (a large model's state takes minutes on a slow disk). A rank that dies
# does not leave the others waiting this long: the launcher stops them all.
COLLECTIVE_TIMEOUT = datetime.timedelta(hours=1)
POLL_INTERVAL_S = 0.2
STOP_GRACE_S = 10
# A worker is a fresh interpreter that imports xstilts, with the launcher's module search path, and
# runs an entry (module, function) that takes the job's worker folder: run_worker here, or the entry
# that first maps Slurm's environment to torchrun's (xstilts.scaling.multinode).
WORKER_BOOTSTRAP = ("import json, sys; sys.path[:] = json.loads(sys.argv[2]); "
                    "from {module} import {function}; {function}(sys.argv[1])")
LAUNCHER_PID = "XSTILTS_LAUNCHER_PID"
# Set (to 1) where no launcher process holds the rendezvous store, as for ranks that srun started on
# several nodes: rank 0 then serves it at MASTER_ADDR:MASTER_PORT, as torchrun's env:// does.
STORE_ON_RANK0 = "XSTILTS_STORE_ON_RANK0"
CPU_CODE_PATHS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")


class DataParallelError(RuntimeError):
    """A worker of a data-parallel job failed; the message carries its traceback."""


@contextlib.contextmanager
def stage(snakemake, *, uses_torch: bool = True, data_parallel: bool = False) -> Iterator:
    """Context for a Snakemake `script:` job. Yields the torch device to run on (None for jobs
    that do not use torch, which then never import it); a job that claimed several GPUs runs on
    the first. With `data_parallel` (training stages) it yields `Workers` instead, which run the
    stage on every claimed device."""
    log_path = snakemake.log[0] if snakemake.log else None
    with _redirect_output(log_path):
        if "SLURM_JOB_ID" in os.environ:
            print(_slurm_allocation(os.environ), file=sys.stderr)
        if not uses_torch:
            yield None
            return
        settings = snakemake.config.get("resources", {})
        nodes = int(settings.get("nodes_per_job", 1))
        if data_parallel and nodes > 1:
            # Checked before torch loads: outside a Slurm allocation the job fails before any work.
            from .scaling.multinode import slurm_workers

            across_nodes = slurm_workers(os.environ, nodes, int(settings.get("gpus_per_job", 1)),
                                         int(getattr(snakemake.params, "torch_threads", 1)))
        import torch

        # The rule's fixed thread count, not what --cores left it: the number of threads changes how
        # CPU kernels split their sums, and so the last bits of every result.
        threads = int(getattr(snakemake.params, "torch_threads", 1))
        torch.set_num_threads(threads)
        # What decides the last bits of a CPU result besides the threads (set by the workflow; README,
        # "Reproducing the demo's numbers"), in the log where a user comparing machines looks.
        print("[xstilts] CPU code paths: " + ", ".join(f"{name}={os.environ.get(name, 'unset')}"
                                                     for name in CPU_CODE_PATHS), file=sys.stderr)
        if os.environ.get("XSTILTS_WARM_CHILD") == str(os.getpid()):
            print("[xstilts] warm: forked from a server with torch imported (xstilts.warm)", file=sys.stderr)
        _quiet_libraries()
        # the devices the job asked for: whole ones, or slots of resources.jobs_per_gpu (rules/common.smk)
        gpus = int(getattr(snakemake.resources, "gpu", 0) or 0) or int(getattr(snakemake.resources, "gpu_slots", 0) or 0)
        lock_dir, jobs_per_gpu = settings.get("gpu_lock_dir", ".xstilts-gpu-locks"), int(settings.get("jobs_per_gpu", 1))
        if jobs_per_gpu > 1 and "SLURM_JOB_ID" in os.environ:
            raise RuntimeError("resources.jobs_per_gpu applies to local runs only: under Slurm each job gets the "
                               "GPUs its allocation holds (set it to 1 in a cluster's config)")
        if data_parallel and nodes > 1:
            # The ranks on every node, this one's included, are srun's tasks with their own GPUs: this
            # process claims none (its rule asks Slurm for them per node, rules/common.smk).
            yield across_nodes
            return
        from .devices import claimed_devices

        with claimed_devices(gpus, lock_dir, jobs_per_device=jobs_per_gpu) as devices:
            yield Workers(devices, threads) if data_parallel else single_device(devices)


def _slurm_allocation(environ) -> str:
    """What Slurm gave this job, as the job saw it before claiming anything: the job's log says
    which devices and CPUs a cluster run used (tests/test_slurm.py reads it)."""
    fields = {"CPUs": environ.get("SLURM_CPUS_PER_TASK", "unset"),
              "CUDA_VISIBLE_DEVICES": environ.get("CUDA_VISIBLE_DEVICES", "unset")}
    return (f"[xstilts] Slurm job {environ['SLURM_JOB_ID']} on {environ.get('SLURMD_NODENAME', 'unknown')}: "
            + ", ".join(f"{name}={value}" for name, value in fields.items()))


def single_device(devices: list[str]):
    """The torch device of a stage that runs on one device whatever it claimed."""
    from .devices import select_torch_device

    device = select_torch_device()
    if len(devices) > 1:
        print(f"[xstilts] this stage runs on one device: {device}, the first of the claimed GPUs {devices}; "
              "the others stay idle (only training stages run data-parallel)", file=sys.stderr)
    else:
        print(f"[xstilts] device {device} (claimed GPUs: {devices or 'none'})", file=sys.stderr)
    return device


class Workers:
    """Where a training stage runs: in this process on its one device (or the CPU), or, when the
    job claimed several GPUs, data-parallel in one worker process per device."""

    def __init__(self, devices: list[str], threads: int):
        self.devices = list(devices)
        self.threads = threads

    @property
    def count(self) -> int:
        return max(1, len(self.devices))

    def run(self, fn: Callable, **kwargs) -> list:
        """fn(device=..., **kwargs) on every device; each worker's return value, in rank order.
        fn and kwargs must pickle (a module-level function, plain data) to reach the workers."""
        if self.count == 1:
            return [fn(device=single_device(self.devices), **kwargs)]
        print(f"[xstilts] data-parallel training on the claimed GPUs {self.devices}: one process each",
              file=sys.stderr)
        return launch_data_parallel(fn, kwargs, self.count, threads=max(1, self.threads // self.count))


# ---- the launcher ------------------------------------------------------------------------
#
# Workers are fresh interpreters (subprocess, torchrun's model), not multiprocessing's spawn: a
# spawned child re-runs its parent's main module, and in a Snakemake `script:` job that is the
# generated job script itself, which would claim devices and launch workers again. Fork is no
# option either once torch (and maybe CUDA) is loaded.


def launch_data_parallel(fn: Callable, kwargs: dict, world_size: int, *, threads: int = 1) -> list:
    """Run fn(device=..., **kwargs) in `world_size` worker processes under one torch.distributed
    process group (NCCL on GPUs, gloo on the CPU), rank r on cuda:r; their return values in rank
    order. The first worker to fail stops the others and raises DataParallelError here."""
    import torch.distributed as dist

    # The rendezvous store lives here, on a port the OS chose when binding it: no window in which
    # another process could take a port found free.
    store = dist.TCPStore(LOOPBACK, 0, None, True, timeout=COLLECTIVE_TIMEOUT, wait_for_workers=False)
    with tempfile.TemporaryDirectory(prefix="xstilts-workers-") as folder:
        folder = Path(folder)
        write_spec(folder, fn, kwargs, threads)
        _flush_output()  # the workers write to the same log
        workers = [_start_worker(folder, rank, world_size, store.port) for rank in range(world_size)]
        try:
            _wait_for(workers, folder)
        finally:
            _stop(workers)
        return collect_results(folder, world_size)


def write_spec(folder: Path, fn: Callable, kwargs: dict, threads: int) -> None:
    """What every worker runs, for the workers to read from `folder` (one on a shared file system
    when they run on other nodes)."""
    (folder / "spec.pkl").write_bytes(pickle.dumps({"fn": fn, "kwargs": kwargs, "threads": threads}))


def collect_results(folder: Path, world_size: int) -> list:
    """Every rank's return value, in rank order, as the workers left them in `folder`."""
    return [pickle.loads((folder / f"result-{rank}.pkl").read_bytes()) for rank in range(world_size)]


def worker_command(folder: Path, module: str = "xstilts.runtime", function: str = "run_worker") -> list[str]:
    """The command line of a worker: this interpreter, this module search path, the entry to run."""
    bootstrap = WORKER_BOOTSTRAP.format(module=module, function=function)
    return [sys.executable, "-c", bootstrap, str(folder), json.dumps(sys.path)]


def _start_worker(folder: Path, rank: int, world_size: int, port: int) -> subprocess.Popen:
    # torchrun's environment contract; the claimed CUDA_VISIBLE_DEVICES and XSTILTS_CLAIMED_DEVICES
    # are inherited, so every worker sees all the job's devices and uses cuda:rank.
    env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size),
           "MASTER_ADDR": LOOPBACK, "MASTER_PORT": str(port), LAUNCHER_PID: str(os.getpid()),
           "PYTHONUNBUFFERED": "1"}
    command = worker_command(folder)
    # Same process group as the job: a Snakemake that kills the job's group kills the workers.
    return subprocess.Popen(command, env=env, stdout=_file_descriptor(sys.stdout),
                            stderr=_file_descriptor(sys.stderr))


def _wait_for(workers: list[subprocess.Popen], folder: Path) -> None:
    """Until every worker has exited 0; DataParallelError at the first that did not (the others
    would otherwise wait in their next collective until the timeout)."""
    while True:
        codes = [worker.poll() for worker in workers]
        failed = [rank for rank, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            rank = _first_failure(failed, folder)
            raise DataParallelError(_failure_message(rank, codes[rank], len(workers), folder))
        if all(code == 0 for code in codes):
            return
        time.sleep(POLL_INTERVAL_S)


def _first_failure(failed: list[int], folder: Path) -> int:
    """The worker that failed first, when several did within one poll: the root cause, not a
    worker that lost its peer."""
    written = [(os.stat(folder / f"error-{rank}.txt").st_mtime_ns, rank) for rank in failed
               if (folder / f"error-{rank}.txt").exists()]
    return min(written)[1] if written else failed[0]


def _failure_message(rank: int, code: int, world_size: int, folder: Path) -> str:
    error = folder / f"error-{rank}.txt"
    if not error.exists():
        return f"data-parallel worker {rank} of {world_size} failed (exit code {code}, no traceback: killed?)"
    headline, details = error.read_text().split("\n", 1)
    return f"data-parallel worker {rank} of {world_size} failed (exit code {code}): {headline}\n{details}"


def _stop(workers: list[subprocess.Popen]) -> None:
    running = [worker for worker in workers if worker.poll() is None]
    for worker in running:
        worker.terminate()
    for worker in running:
        try:
            worker.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


# ---- inside a worker ---------------------------------------------------------------------


def run_worker(folder: str) -> None:
    """A worker's life: join the process group, run the job's function on this rank's device,
    leave the result (or the traceback) in `folder` for the launcher."""
    if LAUNCHER_PID in os.environ:
        # A task that srun started has slurmstepd as its parent, and Slurm ends the step's tasks
        # when the srun that launched it dies: only a local worker watches its launcher itself.
        _die_with_launcher(int(os.environ[LAUNCHER_PID]))
    folder = Path(folder)
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    try:
        spec = pickle.loads((folder / "spec.pkl").read_bytes())
        result = _run_rank(spec, rank, world_size)
    except BaseException as error:
        # The exception's first line, for the launcher's message, then the whole traceback.
        headline = f"{type(error).__name__}: {error}".splitlines()[0]
        (folder / f"error-{rank}.txt").write_text(f"{headline}\n{traceback.format_exc()}")
        raise
    (folder / f"result-{rank}.pkl").write_bytes(pickle.dumps(result))


def _run_rank(spec: dict, rank: int, world_size: int):
    import torch
    import torch.distributed as dist

    torch.set_num_threads(spec["threads"])
    _quiet_libraries()
    # The device among this node's: LOCAL_RANK is the rank on one machine, and all of them there.
    device = rank_device(int(os.environ.get("LOCAL_RANK", rank)))
    backend = "nccl" if device.type == "cuda" else "gloo"
    serves_store = rank == 0 and os.environ.get(STORE_ON_RANK0) == "1"
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), None, serves_store,
                          timeout=COLLECTIVE_TIMEOUT)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world_size, timeout=COLLECTIVE_TIMEOUT)
    print(f"[xstilts] worker {rank} of {world_size} on {device} ({backend})", file=sys.stderr)
    result = spec["fn"](device=device, **spec["kwargs"])
    # Only after success: a failing worker keeps its connections until its traceback is recorded,
    # so that the peers' "connection closed" errors come later and the launcher names the cause.
    dist.destroy_process_group()
    return result


def rank_device(local_rank: int):
    """cuda:local_rank among the devices visible on this node, else the CPU (a CPU-only or test run)."""
    import torch

    if not torch.cuda.is_available():
        return torch.device("cpu")
    device = torch.device("cuda", local_rank)
    torch.cuda.set_device(device)  # before NCCL starts: its communicator binds to the current device
    return device


def _die_with_launcher(launcher_pid: int) -> None:
    """A worker must not outlive its launcher, which holds the job's device claims: an orphan
    would go on training on devices that another job then claims."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != launcher_pid:  # it died before the line above took effect
        os._exit(1)


# ---- output ------------------------------------------------------------------------------


@contextlib.contextmanager
def _redirect_output(log_path: str | None):
    if log_path is None:
        yield
        return
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        stream.flush()


def _file_descriptor(stream) -> int | None:
    """The file behind a (redirected) stream, for a child process to write to; None (inherit this
    process's) when it has none, as under a test runner's capture."""
    try:
        return stream.fileno()
    except (AttributeError, io.UnsupportedOperation, ValueError):
        return None


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    logging.getLogger("datasets").setLevel(logging.ERROR)
