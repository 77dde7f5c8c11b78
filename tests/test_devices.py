"""Device claims: concurrent jobs never share a GPU, and a job never waits when the cap equals the pool."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
import torch

from xstilts.devices import claimed_devices, device_pool, select_torch_device

FAKE_GPUS = ["0", "1", "2", "3"]
HOLD_S = 0.3


def fake_gpu_job(job: int, lock_dir: str, record_dir: str, visible=tuple(FAKE_GPUS), jobs_per_device: int = 1,
                 start_at: float | None = None, hold_s: float = HOLD_S) -> None:
    """One job of a `gpu=1` rule: claim a device, 'train' on it, record when and where. With `start_at` (a
    time.time()), it asks for its device then, so that processes started one by one ask at once."""
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    environ: dict[str, str] = {}
    asked = time.monotonic()
    with claimed_devices(1, lock_dir, environ=environ, visible=list(visible), jobs_per_device=jobs_per_device) as devices:
        start = time.monotonic()
        pinned = environ["CUDA_VISIBLE_DEVICES"]
        time.sleep(hold_s)
        end = time.monotonic()
    record = {"job": job, "devices": devices, "pinned": pinned, "asked": asked, "start": start, "end": end}
    Path(record_dir, f"{job}.json").write_text(json.dumps(record))


def hold_device_then_wait(lock_dir: str, ready, release) -> None:
    with claimed_devices(1, lock_dir, environ={}, visible=["0"]):
        ready.set()
        release.wait(30)


def test_concurrent_jobs_never_share_a_device_and_never_wait(tmp_path):
    lock_dir, record_dir = tmp_path / "locks", tmp_path / "records"
    record_dir.mkdir()
    # Four worker processes for eight jobs: what `snakemake --resources gpu=4` does with gpu=1 rules.
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.starmap(fake_gpu_job, [(job, str(lock_dir), str(record_dir)) for job in range(8)])
    records = [json.loads(path.read_text()) for path in sorted(record_dir.glob("*.json"))]

    assert len(records) == 8
    for record in records:
        assert len(record["devices"]) == 1 and record["devices"][0] in FAKE_GPUS
        assert record["pinned"] == record["devices"][0]
        assert record["start"] - record["asked"] < 0.2, f"job {record['job']} waited for a device"
    for first in records:
        for second in records:
            overlap = first["start"] < second["end"] and second["start"] < first["end"]
            if first["job"] != second["job"] and overlap:
                assert first["devices"] != second["devices"], (first, second)
    # Four jobs ran at once, so all four devices were in use.
    assert {record["devices"][0] for record in records} == set(FAKE_GPUS)


def most_at_once(records: list[dict], device: str) -> int:
    """The most jobs that held `device` at one time."""
    spans = [(r["start"], r["end"]) for r in records if r["devices"] == [device]]
    return max((sum(start <= moment < end for start, end in spans) for moment, _ in spans), default=0)


SHARED_HOLD_S = 2.5  # long beside a busy machine's scheduling delays (1.0 s failed once under the quick tier), so that jobs asking at once overlap


def run_fake_jobs(count: int, workers: int, lock_dir: Path, record_dir: Path, jobs_per_device: int) -> list[dict]:
    """`count` fake jobs on devices 0 and 1 in `workers` spawned processes, all asking at one moment. Spawned,
    not forked: the suite runs threads (the background Slurm run) whose locks a fork would copy held."""
    shutil.rmtree(record_dir, ignore_errors=True)
    record_dir.mkdir(parents=True)
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        pool.apply(time.sleep, (0,))  # the workers are up (imports done) before the start time is set
        start_at = time.time() + 3
        jobs = [(job, str(lock_dir), str(record_dir), ("0", "1"), jobs_per_device, start_at, SHARED_HOLD_S)
                for job in range(count)]
        pool.starmap_async(fake_gpu_job, jobs, chunksize=1).get(timeout=120)
    return [json.loads(path.read_text()) for path in sorted(record_dir.glob("*.json"))]


def test_k_jobs_share_a_device_never_more_and_spread_over_the_devices_first(tmp_path):
    """resources.jobs_per_gpu: 2 on two fake devices, real processes: four jobs at once never wait and each
    device has two holders, and of five jobs at once one waits for a slot."""
    lock_dir, record_dir = tmp_path / "locks", tmp_path / "records"
    records = run_fake_jobs(4, 4, lock_dir, record_dir, jobs_per_device=2)
    assert len(records) == 4 and all(r["start"] - r["asked"] < SHARED_HOLD_S / 2 for r in records), "a job waited"
    assert most_at_once(records, "0") == most_at_once(records, "1") == 2
    records = run_fake_jobs(5, 5, lock_dir, record_dir, jobs_per_device=2)
    assert len(records) == 5
    assert sorted(r["start"] - r["asked"] > SHARED_HOLD_S / 2 for r in records) == [False] * 4 + [True]
    assert max(most_at_once(records, device) for device in ("0", "1")) == 2


def test_with_slots_a_first_job_per_device_comes_before_a_second_on_any(tmp_path):
    with claimed_devices(1, tmp_path, environ={}, visible=["0", "1"], jobs_per_device=3) as first:
        with claimed_devices(1, tmp_path, environ={}, visible=["0", "1"], jobs_per_device=3) as second:
            with claimed_devices(2, tmp_path, environ={}, visible=["0", "1"], jobs_per_device=3, timeout_s=5) as both:
                assert (first, second, both) == (["0"], ["1"], ["0", "1"])
    with pytest.raises(ValueError, match="jobs per device must be >= 1"):
        with claimed_devices(1, tmp_path, environ={}, visible=["0"], jobs_per_device=0):
            pass


def test_two_devices_are_distinct_and_pinned_together(tmp_path):
    environ = {"OTHER": "kept"}
    with claimed_devices(2, tmp_path, environ=environ, visible=FAKE_GPUS) as devices:
        assert len(set(devices)) == 2
        assert environ["CUDA_VISIBLE_DEVICES"] == ",".join(devices)
        # Another job (its own environment) gets the other two.
        with claimed_devices(2, tmp_path, environ={}, visible=FAKE_GPUS) as others:
            assert not set(devices) & set(others)
    assert environ == {"OTHER": "kept"}


def test_zero_devices_leaves_environment_alone(tmp_path):
    environ = {"CUDA_VISIBLE_DEVICES": "5"}
    with claimed_devices(0, tmp_path / "locks", environ=environ, visible=FAKE_GPUS) as devices:
        assert devices == []
        assert environ == {"CUDA_VISIBLE_DEVICES": "5"}
    assert not (tmp_path / "locks").exists()


def test_empty_pool_runs_on_cpu(tmp_path):
    environ: dict[str, str] = {}
    with claimed_devices(1, tmp_path, environ=environ, visible=[]) as devices:
        assert devices == []
        assert "CUDA_VISIBLE_DEVICES" not in environ


def test_slurm_devices_are_used_without_locking(tmp_path):
    environ = {"SLURM_JOB_ID": "17", "CUDA_VISIBLE_DEVICES": "2,5"}
    lock_dir = tmp_path / "locks"
    with claimed_devices(2, lock_dir, environ=environ, visible=FAKE_GPUS) as devices:
        assert devices == ["2", "5"]
        assert environ["CUDA_VISIBLE_DEVICES"] == "2,5"
        # Another job that Slurm gave the same ids (on another node, or after this one) is not blocked.
        with claimed_devices(2, lock_dir, environ={"SLURM_JOB_ID": "18", "CUDA_VISIBLE_DEVICES": "2,5"}) as again:
            assert again == ["2", "5"]
    assert not lock_dir.exists()
    assert environ["CUDA_VISIBLE_DEVICES"] == "2,5"


def test_jobs_inside_one_bigger_allocation_share_it_through_locks(tmp_path):
    allocation = {"SLURM_JOB_ID": "17", "CUDA_VISIBLE_DEVICES": "2,5"}
    with claimed_devices(1, tmp_path, environ=dict(allocation)) as first:
        with claimed_devices(1, tmp_path, environ=dict(allocation)) as second:
            assert first == ["2"] and second == ["5"]
            with pytest.raises(TimeoutError):
                with claimed_devices(1, tmp_path, environ=dict(allocation), timeout_s=0.2):
                    pass


def test_a_child_of_a_claiming_job_uses_its_devices(tmp_path):
    environ: dict[str, str] = {}
    with claimed_devices(2, tmp_path, environ=environ, visible=FAKE_GPUS) as devices:
        inherited = dict(environ)  # what a subprocess of the job starts with
        with claimed_devices(1, tmp_path, environ=inherited, timeout_s=0.2) as child_devices:
            assert child_devices == devices[:1]
            assert inherited["CUDA_VISIBLE_DEVICES"] == devices[0]
    assert environ == {}


def test_more_devices_than_the_pool_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"5 devices.*only 4"):
        with claimed_devices(5, tmp_path, environ={}, visible=FAKE_GPUS):
            pass


@pytest.mark.skipif(torch.backends.cuda.is_built(), reason="needs a CPU-only torch")
def test_cpu_only_torch_means_no_devices(tmp_path):
    environ: dict[str, str] = {}
    with claimed_devices(1, tmp_path, environ=environ) as devices:
        assert devices == []
        assert environ == {}
    assert select_torch_device() == torch.device("cpu")


def test_pool_comes_from_the_environment_first():
    assert device_pool({"CUDA_VISIBLE_DEVICES": "3, 1"}, ["0"]) == ["3", "1"]
    assert device_pool({"CUDA_VISIBLE_DEVICES": ""}, ["0"]) == []
    assert device_pool({}, ["0", "1"]) == ["0", "1"]


def test_waits_for_a_taken_device_and_times_out(tmp_path):
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=hold_device_then_wait, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(TimeoutError):
            with claimed_devices(1, tmp_path, environ={}, visible=["0"], timeout_s=0.3):
                pass
        release.set()
        asked = time.monotonic()
        with claimed_devices(1, tmp_path, environ={}, visible=["0"], timeout_s=10) as devices:
            assert devices == ["0"]
        assert time.monotonic() - asked < 5
    finally:
        release.set()
        holder.join(10)


def test_a_killed_job_releases_its_device(tmp_path):
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=hold_device_then_wait, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(10)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    with claimed_devices(1, tmp_path, environ={}, visible=["0"], timeout_s=2) as devices:
        assert devices == ["0"]
