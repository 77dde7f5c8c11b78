"""Warm job processes (xstilts.warm): a job script handed to a forked child of a server that has
imported torch runs as itself (same results, streams, exit code, errors), dies with its job, and
never runs under a server of other code or CPU settings. The workflow side: the tiny run is warm
(tests/configs/tiny.yaml) and tests/test_demo_numbers.py compares it with a cold run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xstilts import warm

# What a Snakemake preamble gives a script: a `snakemake` object and __real_file__.
JOB = '''
import json, os, sys
class Snakemake:
    config = {"resources": {"warm_processes": True}}
snakemake = Snakemake()
__real_file__ = __file__
from xstilts.warm import run_in_warm_child
run_in_warm_child(snakemake, __real_file__)
import torch
torch.manual_seed(0)
layer = torch.nn.Linear(16, 4)
value = layer(torch.randn(8, 16)).sum().item()
print(json.dumps({"pid": os.getpid(), "child": os.environ.get("XSTILTS_WARM_CHILD"), "cwd": os.getcwd(),
                  "value": value, "marker": os.environ.get("MARKER")}))
sys.stdout.flush()
if os.environ.get("SLEEP"):
    open(os.environ["SLEEP"], "w").write(str(os.getpid()))
    import time; time.sleep(60)
if os.environ.get("FAIL"):
    raise RuntimeError("the job failed on purpose")
sys.exit(int(os.environ.get("EXIT", "0")))
'''


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The job script, and an environment whose servers live in a folder of this module's: the first
    job starts the server (torch's import, seconds), the module's other jobs find it."""
    folder = tmp_path_factory.mktemp("warm")
    script = folder / "job.py"
    script.write_text(JOB)
    env = {**os.environ, "TMPDIR": str(folder), "MARKER": "m1"}
    return script, env


def run(script: Path, env: dict, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=script.parent,
                          env={**env, **extra}, timeout=120)


def test_a_warm_job_runs_in_a_child_and_computes_what_a_cold_one_computes(job):
    script, env = job
    cold = run(script, env, XSTILTS_WARM="0")
    first, second = run(script, env), run(script, env)
    for result in (cold, first, second):
        assert result.returncode == 0, result.stderr
    cold, first, second = (json.loads(r.stdout.strip().splitlines()[-1]) for r in (cold, first, second))
    assert cold["child"] is None
    assert first["child"] == str(first["pid"]) and second["child"] == str(second["pid"])  # ran in a forked child
    assert first["pid"] != second["pid"]
    assert first["value"] == second["value"] == cold["value"]
    assert first["cwd"] == cold["cwd"] and first["marker"] == "m1"  # the job's folder and environment


def test_exit_codes_and_errors_reach_the_job(job):
    script, env = job
    assert run(script, env, EXIT="3").returncode == 3
    failed = run(script, env, FAIL="1")
    assert failed.returncode == 1
    assert "RuntimeError: the job failed on purpose" in failed.stderr


def test_a_killed_job_takes_its_child_with_it(job, tmp_path):
    script, env = job
    pid_file = tmp_path / "child.pid"
    process = subprocess.Popen([sys.executable, str(script)], env={**env, "SLEEP": str(pid_file)}, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    child = int(pid_file.read_text())
    assert child != process.pid
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"the warm child {child} outlived its killed job")


def test_no_server_serves_other_code_or_other_cpu_code_paths(monkeypatch):
    key = warm.server_key()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    assert warm.server_key() != key
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setattr("xstilts.code_hashes.code_hash", lambda *parts: "another library")
    assert warm.server_key() != key


def test_off_under_slurm_and_by_switch(monkeypatch):
    config = {"resources": {"warm_processes": True}}
    assert warm.wanted(config) and not warm.wanted({})
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert not warm.wanted(config)
    monkeypatch.delenv("SLURM_JOB_ID")
    monkeypatch.setenv(warm.SWITCH, "0")
    assert not warm.wanted(config)


def test_the_servers_model_load_leaves_the_generator_as_it_found_it():
    """The server loads a throwaway model before it serves (xstilts.warm.load_a_model_once); its
    children inherit the server's generator, so building that model must draw nothing from it."""
    import torch

    from xstilts.warm import load_a_model_once

    before = torch.get_rng_state()
    load_a_model_once()
    assert torch.equal(torch.get_rng_state(), before)
