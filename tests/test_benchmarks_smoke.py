"""Every benchmark script runs with its smallest settings and prints its table and one JSON line.

At these settings a script is mostly interpreter and library start-up: the scripts that only
compute run one after another in one interpreter (as `python script.py args`: runpy, their own
argv, their stdout captured), beside the ones that start processes of their own (Snakemake, cold
interpreters, claimants), each in its own."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

SMALLEST = {
    "train_throughput.py": ["--steps", "2", "--reps", "1", "--warmup-runs", "0", "--batch-size", "4",
                            "--seq-len", "32", "--log-every", "1", "--threads", "1", "--corpus-lines", "100",
                            "--variants", "ours,trainer,ours_freelb", "--adversarial-steps", "2"],
    "eval_throughput.py": ["--examples", "16", "--batch-size", "8", "--seq-len", "32", "--reps", "1", "--threads", "1",
                           "--corpus-lines", "100"],
    "tokenize_throughput.py": ["--examples", "20", "--reps", "1", "--corpus-lines", "100"],
    "workflow_overhead.py": ["--configfile", str(ROOT / "tests" / "configs" / "tiny.yaml"), "--reps", "1"],
    "pinning.py": ["--jobs", "3", "--devices", "2", "--hold-s", "0.05"],
    "generate_throughput.py": ["--examples", "200", "--reps", "1"],
    "warm_jobs.py": ["--reps", "1"],
    "demo_learnability.py": ["--no-probe"],
    "attack_throughput.py": ["--examples", "8", "--batch-size", "4", "--seq-len", "32", "--steps", "1", "--reps", "1",
                             "--max-changes", "1", "--threads", "1", "--corpus-lines", "100"],
    "grid_throughput.py": ["--size", "demo", "--jobs", "1,2", "--steps", "2", "--batch-size", "4", "--seq-len", "32",
                           "--threads", "1", "--corpus-lines", "100"],
    "align_throughput.py": ["--sentences", "12", "--languages", "2", "--batch-size", "8", "--reps", "1", "--threads", "1",
                            "--corpus-lines", "100"],
}
FIGURES = {
    "train_throughput.py": ("ratio_ours_over_trainer", "ratio_ours_freelb_over_ours", "variants"),
    "eval_throughput.py": ("speedup_predict_over_naive", "variants"),
    "tokenize_throughput.py": ("ratio_stage_over_tokenizer", "variants"),
    "workflow_overhead.py": ("jobs", "measurements"),
    "pinning.py": ("shared", "max_wait_s"),
    "generate_throughput.py": ("kinds", "examples"),
    "warm_jobs.py": ("ratio_cold_over_warm", "seconds"),
    "demo_learnability.py": ("english", "transfer"),
    "attack_throughput.py": ("attacks",),
    "grid_throughput.py": ("grid", "ratio_best_over_trainer", "best"),
    "align_throughput.py": ("median_forward_seconds", "median_measures_seconds", "measures_over_forward"),
}


# Scripts that start processes of their own: run alone, at once with the rest.
OWN_PROCESS = ("workflow_overhead.py", "pinning.py", "warm_jobs.py", "grid_throughput.py")

# Runs scripts given as JSON [[script, args], ...] in this interpreter; prints one JSON line per script.
IN_ONE_INTERPRETER = """
import contextlib, io, json, runpy, sys, traceback
for script, args in json.loads(sys.argv[1]):
    out, err, code = io.StringIO(), io.StringIO(), 0
    sys.argv = [script, *args]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            if not isinstance(stop.code, (int, type(None))):
                print(stop.code, file=err)
        except BaseException:
            code = 1
            traceback.print_exc(file=err)
    print(json.dumps([script, code, out.getvalue(), err.getvalue()]), flush=True)
"""


@pytest.fixture(scope="module")
def outputs():
    alone = {script: subprocess.Popen([sys.executable, str(BENCHMARKS / script), *args], cwd=ROOT, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for script, args in SMALLEST.items() if script in OWN_PROCESS}
    together = [[str(BENCHMARKS / script), args] for script, args in SMALLEST.items() if script not in OWN_PROCESS]
    shared = subprocess.run([sys.executable, "-c", IN_ONE_INTERPRETER, json.dumps(together)], cwd=ROOT, text=True,
                            capture_output=True, timeout=300)
    results = {}
    for line in shared.stdout.splitlines():
        script, code, stdout, stderr = json.loads(line)
        results[Path(script).name] = (code, stdout, stderr)
    for script, proc in alone.items():
        stdout, stderr = proc.communicate(timeout=180)
        results[script] = (proc.returncode, stdout, stderr)
    missing = sorted(set(SMALLEST) - set(results))
    assert not missing, f"no result from {missing}: {shared.stderr[-3000:]}"
    return results


@pytest.mark.parametrize("script", sorted(SMALLEST))
def test_benchmark_prints_its_figures(outputs, script):
    returncode, stdout, stderr = outputs[script]
    assert returncode == 0, stdout[-2000:] + stderr[-3000:]
    lines = stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["benchmark"] == script.removesuffix(".py")
    for key in FIGURES[script]:
        assert key in figures, f"{key} missing from {sorted(figures)}"
    assert any(line.startswith("---") for line in lines[:-1]), "no table printed"
    if script == "pinning.py":
        assert figures["shared"] is False and figures["pinned_correctly"] is True
    if script == "workflow_overhead.py":
        assert figures["jobs"] > 0
    if script == "attack_throughput.py":  # each attack's batched and one-at-a-time runs agree
        assert set(figures["attacks"]) == {"pgd", "hotflip"} and figures["attacks"]["hotflip"]["agree"] == 1.0
    if script == "align_throughput.py":  # both parts timed, over every hidden state of the demo-size model
        assert figures["layers"] == 4 and figures["median_forward_seconds"] > 0 and figures["median_measures_seconds"] > 0
    if script == "grid_throughput.py":  # K jobs at once ran and were counted, beside the Trainer baseline
        assert set(figures["grid"]) == {"trainer K=1", "ours K=1", "ours K=2"}
        assert figures["grid"]["ours K=2"]["jobs"] == 2 and figures["grid"]["ours K=2"]["examples_per_s"] > 0
    if script == "demo_learnability.py":  # the no-model ceilings are real numbers, not placeholders
        assert 0 < figures["english"]["xnli"]["shallow_lr_percent"]["test"] <= 100
