"""Interrupted training resumes from its saved state, in the loop and through the workflow, and
damaged state or checkpoint files are told apart: a truncated resumable state is dropped with a
warning (training restarts), a truncated checkpoint fails the stage that reads it, by name."""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from xstilts.modeling import build_model, load_checkpoint, load_for_inference, save_checkpoint
from xstilts.tasks import task_type
from xstilts.training import RESUMED_KEY, Trainer

from test_training import run, setup  # noqa: F401  (setup: the toy task fixture)
from workflow_runs import TINY, snakemake, snakemake_command

STAGE = "tiny/intermediate/mnli/seed1"  # the stage the workflow test interrupts


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def without_resumption(log: list[dict]) -> list[dict]:
    return [line for line in log if RESUMED_KEY not in line]


def interrupted_after_save(setup, tmp_path, monkeypatch, crash_at: int, **overrides) -> Path:  # noqa: F811
    """A run killed at step `crash_at` (before that step's save); its state folder."""
    _, trainer = run(setup, tmp_path, **overrides)
    original = Trainer.evaluate_and_select

    def crash(self, s):
        if s["step"] >= crash_at:
            raise KeyboardInterrupt("simulated kill")
        return original(self, s)

    monkeypatch.setattr(Trainer, "evaluate_and_select", crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    monkeypatch.setattr(Trainer, "evaluate_and_select", original)
    assert (tmp_path / "state" / "state.pt").exists()
    return tmp_path / "state"


# ---- the loop ----------------------------------------------------------------------------
# log_every 3, save_every 4: a save can fall inside a log interval, whose loss must carry over.
SETTINGS = {"epochs": 2, "eval_every": 6, "save_every": 4, "log_every": 3}


def test_resumed_run_logs_where_it_resumed_and_repeats_no_step(setup, tmp_path, monkeypatch, capsys):  # noqa: F811
    reference, trainer = run(setup, tmp_path / "ref", **SETTINGS)
    reference_log = trainer.run()["log"]
    # Killed in the evaluation of step 12, before that step's save: the state of step 8, in the
    # log interval 6-9.
    interrupted_after_save(setup, tmp_path / "resume", monkeypatch, crash_at=12, **SETTINGS)

    resumed, trainer = run(setup, tmp_path / "resume", **SETTINGS)
    log = trainer.run()["log"]
    markers = [line for line in log if RESUMED_KEY in line]
    assert markers == [{RESUMED_KEY: 8, "epoch": 0, "position": 8}]
    assert "resumed from saved state" in capsys.readouterr().err
    before = log[: log.index(markers[0])]
    assert before and all(line["step"] <= 8 for line in before)
    assert all(line["step"] > 8 for line in log[log.index(markers[0]) + 1:]), "no step before the save is redone"
    # The same lines as without the interruption, losses included (the interval's loss was saved).
    assert without_resumption(log) == reference_log
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_truncated_state_is_dropped_with_a_warning_and_training_restarts(setup, tmp_path, monkeypatch):  # noqa: F811
    reference, trainer = run(setup, tmp_path / "ref", epochs=2)
    reference_log = trainer.run()["log"]
    state_dir = interrupted_after_save(setup, tmp_path / "cut", monkeypatch, crash_at=12, epochs=2)
    truncate(state_dir / "state.pt")

    restarted, trainer = run(setup, tmp_path / "cut", epochs=2)
    with pytest.warns(UserWarning, match=r"state\.pt is truncated or corrupt.*training from step 0"):
        log = trainer.run()["log"]
    assert not any(RESUMED_KEY in line for line in log)
    assert log == reference_log, "a clean start from step 0"
    for (name, a), b in zip(reference.state_dict().items(), restarted.state_dict().values()):
        assert torch.equal(a, b), name


def test_state_of_other_settings_is_not_resumed(setup, tmp_path, monkeypatch):  # noqa: F811
    interrupted_after_save(setup, tmp_path, monkeypatch, crash_at=12)
    _, trainer = run(setup, tmp_path, lr=1e-3)
    assert trainer.load_state() is None
    assert (tmp_path / "state" / "state.pt").exists(), "kept: it is overwritten at the next save"


# ---- checkpoints -------------------------------------------------------------------------
@pytest.fixture
def checkpoint(setup, tmp_path):  # noqa: F811
    pretrained = setup[0]
    model = build_model(pretrained, {"toy": task_type("classification")(["no", "yes"])})
    save_checkpoint(model, tmp_path / "checkpoint", {"steps": 0})
    return tmp_path / "checkpoint"


@pytest.mark.parametrize("name", ["model.safetensors", "heads.safetensors"])
def test_truncated_checkpoint_file_fails_by_name(checkpoint, name):
    truncate(checkpoint / name)
    expected = rf"checkpoint file {re.escape(str(checkpoint / name))} is truncated or corrupt.*delete it and rebuild it"
    with pytest.raises(ValueError, match=expected):
        load_checkpoint(checkpoint)  # evaluation of a target checkpoint
    with pytest.raises(ValueError, match=expected):
        load_for_inference(checkpoint)
    with pytest.raises(ValueError, match=expected):
        build_model(checkpoint, {"next": task_type("classification")(["a", "b"])})  # the next stage's encoder


def test_whole_checkpoint_loads(checkpoint):
    assert set(load_checkpoint(checkpoint).heads) == {"toy"}


# ---- through the workflow ----------------------------------------------------------------
def kill_resume_config(tmp_path: Path) -> Path:
    """The tiny config cut to one recipe, target and benchmark (no perturbation or attack) and a
    shorter pre-training; the intermediate training made long enough (30 steps of 8 micro-batches)
    to be killed in the middle, with frequent saves."""
    config = yaml.safe_load(TINY.read_text())
    config["data"]["synthetic"]["task_sizes"]["corpus"] = {"train": 240, "dev": 30}
    config["recipes"] = {"mnli": {"tasks": ["mnli"], "training": {"epochs": 24}}}
    config["targets"] = {"mnli": ["xnli"]}
    config["retrieval"] = []
    config.pop("perturbations")
    config.pop("attacks")
    # Runtime-only settings (they change no result): a state every 5 steps, a loss line every 2,
    # so that a save falls inside a log interval.
    config["training"]["defaults"].update(save_every=5, log_every=2)
    path = tmp_path / "kill-resume.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def eval_results(results: Path) -> dict[tuple[str, str], tuple]:
    return {(str(p.relative_to(results)), r["lang"]): (r["score"], r["metrics"])
            for p in (results / "eval").rglob("scores.json") for r in json.loads(p.read_text())["results"]}


def no_process_left(group: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    """An uninterrupted run; then, in a second working directory that has its upstream files, a
    run killed with SIGKILL (Snakemake and its job) in the intermediate training after a state
    save, and rerun with --rerun-incomplete. (uninterrupted results, resumed results, the saved
    step, the config)."""
    tmp_path = tmp_path_factory.mktemp("kill-resume")
    config = kill_resume_config(tmp_path)
    uninterrupted = tmp_path / "uninterrupted"
    uninterrupted.mkdir()
    result = snakemake(uninterrupted, config)
    assert result.returncode == 0, result.stderr[-5000:]

    # A copy with the upstream files (data, features, pretrained model) only, as a first run has
    # them when it reaches the intermediate training: that and everything after it run again.
    work = tmp_path / "killed"
    shutil.copytree(uninterrupted, work, symlinks=True)
    for downstream in (f"models/{STAGE}", "models/tiny/target", "eval", "report", "train_logs/tiny/intermediate",
                       "train_logs/tiny/target"):
        shutil.rmtree(work / "results" / downstream)
    state = work / "results" / ".state" / STAGE / "state.pt"
    checkpoint = work / "results" / "models" / STAGE
    assert not state.exists(), "a finished stage removes its state"
    command = snakemake_command(work, config, cores=2)
    with open(tmp_path / "killed.out", "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not state.exists():
            assert process.poll() is None, (tmp_path / "killed.out").read_text()[-5000:]
            assert time.monotonic() < deadline, "no state was saved"
            time.sleep(0.02)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # Snakemake and its job: one process group
        process.wait()
    assert no_process_left(process.pid), "the training job outlived the kill"
    saved_step = torch.load(state, map_location="cpu", weights_only=False)["step"]
    assert not (checkpoint / "training_summary.json").exists(), "killed before the checkpoint was written"

    # SIGKILL leaves Snakemake's lock behind (a rerun refuses the directory) and the job incomplete.
    locked = snakemake(work, config, "--rerun-incomplete")
    assert locked.returncode != 0 and "cannot be locked" in locked.stderr, locked.stderr[-3000:]
    assert snakemake(work, config, "--unlock").returncode == 0
    rerun = snakemake(work, config, "--rerun-incomplete")
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    return uninterrupted / "results", work / "results", saved_step, config


@pytest.mark.slow
def test_killed_intermediate_training_resumes_to_the_same_results(killed_and_resumed):
    uninterrupted, resumed, saved_step, _ = killed_and_resumed
    total = json.loads((uninterrupted / "models" / STAGE / "training_summary.json").read_text())["total_steps"]
    assert 0 < saved_step < total

    log = [json.loads(line) for line in (resumed / "train_logs" / f"{STAGE}.jsonl").read_text().splitlines()]
    markers = [line for line in log if RESUMED_KEY in line]
    assert [m[RESUMED_KEY] for m in markers] == [saved_step], "resumed once, at the saved step"
    at = log.index(markers[0])
    assert log[:at] and all(line["step"] <= saved_step for line in log[:at])
    assert all(line["step"] > saved_step for line in log[at + 1:]), "no step before the save is redone"
    steps = [line["step"] for line in without_resumption(log) if "loss" in line]
    assert steps == sorted(set(steps)), "every logged step once"
    reference_log = [json.loads(line) for line in
                     (uninterrupted / "train_logs" / f"{STAGE}.jsonl").read_text().splitlines()]
    assert without_resumption(log) == reference_log
    rule_log = (resumed / "logs" / "intermediate" / "tiny" / "mnli" / "seed1.log").read_text()
    assert f"resumed from saved state results/.state/{STAGE}/state.pt at step {saved_step}" in rule_log
    # The rerun's progress bar starts at the saved step, not at 0.
    assert re.search(r"train:\s+\d+%\|[^|]*\| (\d+)/(\d+)", rule_log).groups() == (str(saved_step), str(total))

    # Bit for bit the uninterrupted run's weights, and every metric the same.
    for name in ("model.safetensors", "heads.safetensors"):
        assert (resumed / "models" / STAGE / name).read_bytes() == (uninterrupted / "models" / STAGE / name).read_bytes()
    reference = eval_results(uninterrupted)
    assert reference and eval_results(resumed) == reference
    assert not list((resumed / ".state").rglob("state.pt")), "the state is removed once the stage is done"


@pytest.mark.slow
def test_truncated_checkpoint_downstream_fails_by_name(killed_and_resumed):
    """Cut the intermediate checkpoint's heads in half: Snakemake reruns the target training
    (a newer input), which fails naming the file."""
    _, resumed, _, config = killed_and_resumed
    work = resumed.parent
    truncate(resumed / "models" / STAGE / "heads.safetensors")
    result = snakemake(work, config)
    assert result.returncode != 0
    assert "Error in rule target" in result.stderr
    # The job's traceback: on Snakemake's stderr (the rule log holds what the stage printed before).
    assert f"ValueError: checkpoint file results/models/{STAGE}/heads.safetensors is truncated or corrupt" \
        in result.stderr, result.stderr[-5000:]
