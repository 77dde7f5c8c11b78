"""Pick GPUs for a job and pin the process to them.

Snakemake's `--resources gpu=N` only counts: it keeps at most N GPU jobs running but
never says which device each should use. So a job claims devices itself, with an
exclusive `fcntl.flock` on one lock file per device in a folder shared by all jobs.
The kernel drops a flock when its holder dies, so a killed job never leaves a device
claimed. Under a scheduler that already restricted the devices (Slurm sets
CUDA_VISIBLE_DEVICES for each job), the job uses what it was given.

Enter `claimed_devices` before anything touches CUDA: the CUDA runtime reads
CUDA_VISIBLE_DEVICES once, when it starts, and ignores later changes.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, MutableMapping

if TYPE_CHECKING:
    import torch

VISIBLE = "CUDA_VISIBLE_DEVICES"
# Set beside CUDA_VISIBLE_DEVICES while a claim is held, so that a child process of the job
# (which inherits both) uses its parent's devices instead of waiting for their locks forever.
CLAIMED = "XSTILTS_CLAIMED_DEVICES"
POLL_INTERVAL_S = 0.05


@contextmanager
def claimed_devices(
    count: int,
    lock_dir: str | os.PathLike,
    *,
    environ: MutableMapping[str, str] = os.environ,
    visible: list[str] | None = None,
    timeout_s: float = 3600,
    jobs_per_device: int = 1,
) -> Iterator[list[str]]:
    """Claim `count` free devices with an exclusive fcntl.flock on one file per device under lock_dir; set
    environ["CUDA_VISIBLE_DEVICES"] to the claimed ids (comma-joined) for the duration; release on exit.

    Pool: environ["CUDA_VISIBLE_DEVICES"] if set (e.g. by Slurm), else `visible` if given, else all devices
    torch sees. count == 0 or an empty pool yields [] and leaves environ alone (the job runs on the CPU).
    Under a scheduler that gave exactly `count` devices (SLURM_JOB_ID and CUDA_VISIBLE_DEVICES set), they are
    used without locking; if it gave more, the jobs inside that allocation share them through the locks.
    A child process of a job holding a claim uses the first `count` of its parent's devices, unlocked.
    count > pool size raises ValueError. While all devices are taken, polls until `timeout_s`, then raises
    TimeoutError. `jobs_per_device` K (resources.jobs_per_gpu) lets up to K jobs hold a device at once, each
    through one of its K lock files; a job holds at most one of a device's, and the first free ones of
    every device are taken before any device's second, so jobs spread over the devices before they share.
    """
    if count < 0:
        raise ValueError(f"device count must be >= 0, got {count}")
    if jobs_per_device < 1:
        raise ValueError(f"jobs per device must be >= 1, got {jobs_per_device}")
    pool = device_pool(environ, visible) if count else []
    if not pool:
        yield []
        return
    if count > len(pool):
        raise ValueError(f"job needs {count} devices but the pool has only {len(pool)}: {pool}")
    if _claimed_by_parent(environ) or (_scheduler_assigned(environ) and count == len(pool)):
        with _pinned(environ, pool[:count]):
            yield pool[:count]
        return
    held = _claim(pool, count, Path(lock_dir), timeout_s, jobs_per_device)
    try:
        claimed = sorted((device for device, _ in held), key=pool.index)
        with _pinned(environ, claimed):
            yield claimed
    finally:
        _release(held)


def select_torch_device() -> torch.device:
    """The device to train on once the process is pinned: the first visible GPU, else the CPU."""
    import torch  # lazily: a job that only claims devices need not load torch

    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def device_pool(environ: MutableMapping[str, str], visible: list[str] | None) -> list[str]:
    """The devices this job may choose from, in claim order."""
    if environ.get(VISIBLE) is not None:
        # An empty value means "no GPU" to CUDA, and so it does here.
        return [device.strip() for device in environ[VISIBLE].split(",") if device.strip()]
    if visible is not None:
        return list(visible)
    return [str(index) for index in range(_torch_device_count())]


def _scheduler_assigned(environ: MutableMapping[str, str]) -> bool:
    return bool(environ.get("SLURM_JOB_ID")) and environ.get(VISIBLE) is not None


def _claimed_by_parent(environ: MutableMapping[str, str]) -> bool:
    return environ.get(CLAIMED) is not None and environ.get(CLAIMED) == environ.get(VISIBLE)


def _torch_device_count() -> int:
    """Count GPUs in a child process, so that this one never starts CUDA before it is pinned.

    torch.cuda.device_count() asks NVML when it can, but falls back to the CUDA runtime, which
    would then ignore the CUDA_VISIBLE_DEVICES we set afterwards.
    """
    import torch

    if not torch.backends.cuda.is_built():
        return 0
    counted = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.cuda.device_count())"],
        capture_output=True, text=True, check=True,
    )
    return int(counted.stdout.strip().splitlines()[-1])


def _claim(pool: list[str], count: int, lock_dir: Path, timeout_s: float, slots: int = 1) -> list[tuple[str, int]]:
    """Hold locks on `count` devices of `pool`, polling until enough are free at once."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    while True:
        held = _try_claim(pool, count, lock_dir, slots)
        if len(held) == count:
            return held
        # Give back a partial claim: holding some devices while waiting for more would let two
        # multi-device jobs starve each other.
        _release(held)
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no {count} free devices among {pool} within {timeout_s} s (locks in {lock_dir})")
        time.sleep(POLL_INTERVAL_S)


def _try_claim(pool: list[str], count: int, lock_dir: Path, slots: int = 1) -> list[tuple[str, int]]:
    """One non-blocking pass over the pool, in order, slot by slot (every device's first slot, then
    every device's second, ...); returns the (device, fd) pairs it locked, one per device."""
    held: list[tuple[str, int]] = []
    for slot in range(slots):
        for device in pool:
            if len(held) == count:
                return held
            if any(device == taken for taken, _ in held):
                continue
            fd = _lock_nowait(_lock_path(lock_dir, device, slot))
            if fd is not None:
                held.append((device, fd))
    return held


def _lock_path(lock_dir: Path, device: str, slot: int = 0) -> Path:
    # Device ids are per machine; the host name keeps jobs on different nodes sharing one lock
    # folder from blocking each other. A device's first slot keeps the name it has with one job per device.
    return lock_dir / (f"{socket.gethostname()}.gpu{device}" + (f".slot{slot}" if slot else "") + ".lock")


def _lock_nowait(path: Path) -> int | None:
    """An fd holding an exclusive flock on `path`, or None if another process holds it."""
    # O_CREAT without O_EXCL: whoever comes first creates the file, everybody opens the same one.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    # Who holds it, for a person looking at a stuck run; the lock itself is the flock.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _release(held: list[tuple[str, int]]) -> None:
    # The lock files stay: unlinking one while another process waits on it would let two
    # processes lock different files under the same name.
    for _, fd in held:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextmanager
def _pinned(environ: MutableMapping[str, str], devices: list[str]) -> Iterator[None]:
    """Set CUDA_VISIBLE_DEVICES (and the claim mark) to `devices` for the block, then restore what was there."""
    before = {name: environ.get(name) for name in (VISIBLE, CLAIMED)}
    environ[VISIBLE] = environ[CLAIMED] = ",".join(devices)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
