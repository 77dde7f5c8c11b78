"""Data-parallel training: two worker processes on the CPU (gloo) stand in for two GPUs (NCCL).

The functions named `*_on_rank` run inside the workers, which import this module by name."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from types import SimpleNamespace

import pytest
import torch

from xstilts import devices, train_stages, training
from xstilts.config import PRETRAIN_DEFAULTS, TRAINING_DEFAULTS
from xstilts.features import load_tokenizer
from xstilts.io import read_json, write_jsonl
from xstilts.modeling import build_model, load_checkpoint
from xstilts.runtime import DataParallelError, Workers, launch_data_parallel, stage
from xstilts.tasks import task_type
from xstilts.devices import select_torch_device
from xstilts.training import (Trainer, TrainTask, data_parallel_world, epoch_schedule, local_grad_accum,
                              made_on_rank_zero, shard_schedule)

from helpers import TOY_TEXTS, mnli_with_mlm_tasks, tiny_pretrained, toy_examples

LABELS = ["no", "yes"]
# Effective batch 16 as in test_training.py: 4 per device, 4 micro-batches per step on one device, 2 on
# each of two (so DDP's no_sync is used).
HP = {**TRAINING_DEFAULTS, "lr": 3e-3, "batch_size": 4, "grad_accum": 4, "epochs": 4, "eval_every": 6,
      "save_every": 4, "log_every": 2, "patience": 100}
SEED = 3
BATCHES_PER_RANK = 192 // 4 // 2  # of an epoch


@pytest.fixture(autouse=True)
def cpu_workers(monkeypatch):
    """Workers on the CPU with gloo on any machine: a GPU machine's workers would otherwise want
    one GPU each."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv("XSTILTS_CLAIMED_DEVICES", raising=False)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    pretrained = tiny_pretrained(tmp_path_factory.mktemp("tiny"))
    tokenizer = load_tokenizer(pretrained)
    kind = task_type("classification")(LABELS)
    dev = toy_examples(64, 1)
    return {"pretrained": pretrained, "train": kind.featurize(toy_examples(192, 0), tokenizer, {"max_length": 32}),
            "dev_features": kind.featurize(dev, tokenizer, {"max_length": 32}), "dev": dev}


def toy_trainer(device, toy, state_dir, hp=HP):
    kind = task_type("classification")(LABELS)
    torch.manual_seed(0)
    model = build_model(toy["pretrained"], {"toy": kind})
    task = TrainTask("toy", kind, toy["train"], toy["dev_features"], toy["dev"], metric="accuracy")
    pad_id = load_tokenizer(toy["pretrained"]).pad_token_id
    return model, Trainer(model, [task], hp, seed=SEED, device=device, pad_id=pad_id, state_dir=state_dir,
                          progress=False)


def train_toy_on_rank(device, *, toy, state_dir, crash_at_step=None):
    """One worker's training run; what it saw and what it ended with."""
    model, trainer = toy_trainer(device, toy, state_dir)
    seen = []
    schedule_batches = trainer.batches

    def recording(schedule, start, epoch):
        seen.append([(task_index, list(batch)) for task_index, batch in schedule[start:]])
        return schedule_batches(schedule, start, epoch)

    trainer.batches = recording
    if crash_at_step:
        select = trainer.evaluate_and_select

        def crash_after_state_saved(s):
            if s["step"] >= crash_at_step:
                raise RuntimeError("simulated kill")
            return select(s)

        trainer.evaluate_and_select = crash_after_state_saved
    summary = trainer.run()
    rank, world_size = data_parallel_world()
    return {"rank": rank, "world_size": world_size, "summary": summary, "seen": seen,
            "weights": {k: v.clone() for k, v in model.state_dict().items()}}


@pytest.fixture(scope="module")
def two_ranks(toy, tmp_path_factory):
    """The toy task trained data-parallel on two workers, and on one device for comparison."""
    with pytest.MonkeyPatch.context() as env:  # module scope: the autouse fixture has not run yet
        env.setenv("CUDA_VISIBLE_DEVICES", "")
        ranks = launch_data_parallel(train_toy_on_rank, {"toy": toy, "state_dir": tmp_path_factory.mktemp("state")}, 2)
    _, trainer = toy_trainer(torch.device("cpu"), toy, tmp_path_factory.mktemp("single"))
    return ranks, trainer.run()


# ---------------------------------------------------------------- the rules


def test_shards_are_disjoint_equal_and_cover_the_epoch():
    schedule = [(0, [i]) for i in range(25)]
    shards = [shard_schedule(schedule, rank, 2) for rank in (0, 1)]
    assert [len(shard) for shard in shards] == [13, 13], "every rank takes as many steps"
    assert sorted(b[1][0] for shard in shards for b in shard) == sorted(list(range(25)) + [0]), \
        "every batch once, and one wrapped around to even out the shares"
    # Micro-step m of rank r is batch 2m + r: one step's batches are the single-device step's.
    assert [shards[m % 2][m // 2] for m in range(25)] == schedule
    assert shard_schedule(schedule, 0, 1) is schedule


def test_grad_accum_is_divided_among_devices_or_refused_by_name():
    assert local_grad_accum(8, 1) == 8
    assert local_grad_accum(8, 4) == 2
    with pytest.raises(ValueError, match=r"grad_accum 3 is not divisible by the 2 devices"):
        local_grad_accum(3, 2)


# ---------------------------------------------------------------- two ranks train the toy task


def test_ranks_end_with_identical_weights(two_ranks, toy):
    ranks, _ = two_ranks
    assert [r["rank"] for r in ranks] == [0, 1] and {r["world_size"] for r in ranks} == {2}
    first, second = (r["weights"] for r in ranks)
    for name, value in first.items():
        assert torch.equal(value, second[name]), name
    initial = build_model(toy["pretrained"], {"toy": task_type("classification")(LABELS)}).state_dict()
    assert not torch.equal(first["encoder.embeddings.word_embeddings.weight"],
                           initial["encoder.embeddings.word_embeddings.weight"]), "the weights were trained"


def test_learns_the_toy_task_as_one_device_does(two_ranks):
    ranks, single = two_ranks
    summaries = [r["summary"] for r in ranks]
    assert single["best_dev_score"] >= 90.0
    assert summaries[0]["best_dev_score"] >= 90.0, "a linearly separable toy task must be learned"
    # The same effective batch: as many optimizer steps, evaluations at the same steps.
    assert summaries[0]["total_steps"] == single["total_steps"] == 48
    dev_steps = [[line["step"] for line in s["log"] if "dev_score" in line] for s in (summaries[0], single)]
    assert dev_steps[0] == dev_steps[1]
    assert summaries[0]["data_parallel_ranks"] == 2 and "data_parallel_ranks" not in single
    # Rank 1 got rank 0's dev scores and logged the same losses (summed over ranks), so the same log.
    assert summaries[0]["log"] == summaries[1]["log"]


def test_ranks_see_disjoint_batches_covering_each_epoch(two_ranks, toy):
    ranks, _ = two_ranks
    tasks = [TrainTask("toy", task_type("classification")(LABELS), toy["train"])]
    epochs = [r["seen"] for r in ranks]
    assert len(epochs[0]) == len(epochs[1]) == HP["epochs"]
    for epoch, (first, second) in enumerate(zip(*epochs)):
        batches = {rank: {tuple(b) for _, b in seen} for rank, seen in enumerate((first, second))}
        assert len(first) == len(second) == BATCHES_PER_RANK
        assert not batches[0] & batches[1], f"epoch {epoch}: a batch on both ranks"
        assert batches[0] | batches[1] == {tuple(b) for _, b in epoch_schedule(tasks, HP["batch_size"], SEED, epoch)}


def test_resumes_data_parallel_to_the_same_result(two_ranks, toy, tmp_path):
    ranks, _ = two_ranks
    kwargs = {"toy": toy, "state_dir": tmp_path / "state"}
    with pytest.raises(DataParallelError, match="simulated kill"):
        launch_data_parallel(train_toy_on_rank, {**kwargs, "crash_at_step": 12}, 2)
    state = torch.load(tmp_path / "state" / "state.pt", weights_only=False)
    assert state["step"] == 8 and len(state["torch_rng"]) == 2, "each rank's RNG is saved"
    resumed = launch_data_parallel(train_toy_on_rank, kwargs, 2)
    taken = 8 * HP["grad_accum"] // 2  # by each rank in 8 steps
    assert len(resumed[0]["seen"][0]) == BATCHES_PER_RANK - taken, "the epoch resumed where it stopped"
    assert resumed[0]["summary"]["best_dev_score"] == ranks[0]["summary"]["best_dev_score"]
    for name, value in ranks[0]["weights"].items():
        assert torch.allclose(value, resumed[0]["weights"][name], atol=1e-6), name


# ---------------------------------------------------------------- a training stage's outputs


def recording_on_rank(device, *, record_dir, **kwargs):
    """train_stage, with every write of an output or of the resumable state recorded by rank."""
    rank, _ = data_parallel_world()
    record = record_dir / f"rank{rank}.jsonl"

    def recorded(name, write):
        def wrapper(*args, **kw):
            with open(record, "a", encoding="utf-8") as out:
                out.write(json.dumps(name) + "\n")
            return write(*args, **kw)
        return wrapper

    train_stages.write_log = recorded("train log", train_stages.write_log)
    train_stages.save_checkpoint = recorded("checkpoint", train_stages.save_checkpoint)
    training.atomic_path = recorded("resumable state", training.atomic_path)
    Trainer.clear_state = recorded("state removed", Trainer.clear_state)
    trained = Trainer.run

    def run_and_digest(self):  # each rank's final weights, to compare across ranks
        summary = trained(self)
        state = self.model.state_dict()
        digest = hashlib.sha256(b"".join(state[k].detach().cpu().numpy().tobytes() for k in sorted(state)))
        return {**summary, "weights_digest": digest.hexdigest()}

    Trainer.run = run_and_digest
    return train_stages.train_stage(device=device, **kwargs)


def test_only_rank_zero_writes_outputs_of_a_multi_task_recipe(toy, tmp_path):
    """MNLI with continued MLM (the pretrained LM head): two heads, one per batch, so DDP must
    cope with parameters unused in a step."""
    pretrained = toy["pretrained"]
    tasks = mnli_with_mlm_tasks(pretrained, tmp_path)
    # 8 batches an epoch, 4 per rank, 2 per rank and step: unused heads under no_sync too.
    hp = {**TRAINING_DEFAULTS, "lr": 1e-3, "batch_size": 8, "grad_accum": 4, "epochs": 2, "eval_every": 2,
          "save_every": 1, "patience": 100}
    out = tmp_path / "checkpoint"
    (tmp_path / "records").mkdir()
    summaries = launch_data_parallel(recording_on_rank, {
        "record_dir": tmp_path / "records", "encoder_path": pretrained, "tasks": tasks, "hp": hp, "seed": 1,
        "out_dir": out, "log_out": tmp_path / "log.jsonl", "state_dir": tmp_path / "state", "eval_batch_size": 16}, 2)

    writes = [json.loads(line) for line in (tmp_path / "records" / "rank0.jsonl").read_text().splitlines()]
    assert not (tmp_path / "records" / "rank1.jsonl").exists(), "rank 1 wrote nothing"
    assert writes.count("resumable state") == summaries[0]["steps"] - 1, "saved after every step but the last"
    assert writes[-3:] == ["train log", "checkpoint", "state removed"]
    assert set(read_json(out / "heads.json")) == {"mnli"}
    assert set(load_checkpoint(out).heads) == {"mnli"}
    assert not (tmp_path / "state").exists()
    assert summaries[0]["weights_digest"] == summaries[1]["weights_digest"], "unused heads and no_sync kept ranks equal"


def test_pretraining_runs_data_parallel_with_one_tokenizer(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"id": f"t{i}", "text": text} for i, text in enumerate(TOY_TEXTS[:64])])
    write_jsonl(tmp_path / "dev.jsonl", [{"id": f"d{i}", "text": text} for i, text in enumerate(TOY_TEXTS[64:80])])
    architecture = {**PRETRAIN_DEFAULTS, "vocab_size": 300, "hidden_size": 32, "num_hidden_layers": 1,
                    "num_attention_heads": 2, "intermediate_size": 64}
    hp = {**TRAINING_DEFAULTS, "lr": 2e-3, "batch_size": 8, "grad_accum": 2, "epochs": 2, "eval_every": 4,
          "patience": 100}
    out = tmp_path / "pretrained"
    summaries = launch_data_parallel(train_stages.pretrain, {
        "corpus_train": [str(tmp_path / "train.jsonl")], "corpus_dev": [str(tmp_path / "dev.jsonl")],
        "architecture": architecture, "hp": hp, "max_length": 32, "max_positions": 64, "seed": 0, "out_dir": out,
        "log_out": tmp_path / "log.jsonl", "state_dir": tmp_path / "state", "eval_batch_size": 16}, 2)
    assert summaries[0]["log"] == summaries[1]["log"]
    assert summaries[0]["steps"] == 8 and summaries[0]["best_dev_score"] is not None
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()
    assert read_json(out / "training_summary.json")["data_parallel_ranks"] == 2


# ---------------------------------------------------------------- the stage of a Snakemake job


def fake_job(tmp_path, gpus, jobs_per_gpu=1):
    """A Snakemake job asking for `gpus` devices: whole ones, or with jobs_per_gpu > 1 slots (rules/common.smk)."""
    asks = SimpleNamespace(gpu=gpus, gpu_slots=0) if jobs_per_gpu == 1 else SimpleNamespace(gpu=0, gpu_slots=gpus)
    return SimpleNamespace(log=[str(tmp_path / "job.log")], threads=2, params=SimpleNamespace(torch_threads=2),
                           resources=asks,
                           config={"resources": {"gpu_lock_dir": str(tmp_path / "locks"), "jobs_per_gpu": jobs_per_gpu}})


def where_am_i_on_rank(device):
    rank, world_size = data_parallel_world()
    return {"rank": rank, "world_size": world_size, "device": str(device),
            "visible": os.environ["CUDA_VISIBLE_DEVICES"], "threads": torch.get_num_threads(),
            "shared": made_on_rank_zero(lambda: f"made by rank {rank}")}


def test_a_training_job_claiming_two_gpus_runs_data_parallel(tmp_path, monkeypatch):
    # Two GPU ids no machine has: claims and pinning happen, CUDA sees none, the workers use gloo.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "90,91")
    with stage(fake_job(tmp_path, 2), data_parallel=True) as workers:
        assert isinstance(workers, Workers) and workers.count == 2
        ranks = workers.run(where_am_i_on_rank)
    assert [r["rank"] for r in ranks] == [0, 1] and {r["world_size"] for r in ranks} == {2}
    assert {r["device"] for r in ranks} == {"cpu"} and {r["threads"] for r in ranks} == {1}
    assert {r["visible"] for r in ranks} == {"90,91"}, "the workers inherit the job's claim"
    assert {r["shared"] for r in ranks} == {"made by rank 0"}
    log = (tmp_path / "job.log").read_text()
    assert "data-parallel training on the claimed GPUs ['90', '91']" in log
    assert "worker 1 of 2 on cpu (gloo)" in log, "the workers write to the job's log"


def test_an_evaluation_job_claiming_two_gpus_uses_the_first(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "90,91")
    with stage(fake_job(tmp_path, 2)) as device:
        assert isinstance(device, torch.device) and device == select_torch_device()
    assert "the first of the claimed GPUs ['90', '91']" in (tmp_path / "job.log").read_text()


def test_a_job_asking_for_a_slot_shares_a_device_another_job_holds(tmp_path, monkeypatch):
    """resources.jobs_per_gpu 2: with one job on the only device, a second gets its other slot (a claim that
    cannot be had fails in 5 s here instead of waiting an hour)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "90")
    monkeypatch.setattr(devices, "claimed_devices", functools.partial(devices.claimed_devices, timeout_s=5))
    with devices.claimed_devices(1, tmp_path / "locks", environ={}, visible=["90"], jobs_per_device=2):
        with stage(fake_job(tmp_path, 1, jobs_per_gpu=2)) as device:
            assert device == select_torch_device()
        assert "(claimed GPUs: ['90'])" in (tmp_path / "job.log").read_text()
        with pytest.raises(TimeoutError):  # one job per GPU: the device is taken
            with stage(fake_job(tmp_path, 1, jobs_per_gpu=1)):
                pass


def test_several_jobs_per_gpu_are_refused_under_slurm(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    with pytest.raises(RuntimeError, match="jobs_per_gpu applies to local runs only"):
        with stage(fake_job(tmp_path, 1, jobs_per_gpu=2)):
            pass


def process_on_rank(device):
    return os.getpid(), str(device)


def test_one_device_runs_in_this_process(tmp_path):
    with stage(fake_job(tmp_path, 0), data_parallel=True) as workers:
        assert workers.count == 1
        assert workers.run(process_on_rank) == [(os.getpid(), "cpu")]
    assert "device cpu (claimed GPUs: none)" in (tmp_path / "job.log").read_text()


def fail_on_rank_one(device):
    if data_parallel_world()[0] == 1:
        raise ValueError("rank 1 cannot go on")
    torch.distributed.barrier()  # would wait for rank 1 for the whole collective timeout


def test_a_failing_worker_stops_the_others_and_names_its_error():
    started = time.monotonic()
    with pytest.raises(DataParallelError, match=r"worker 1 of 2 failed .*ValueError: rank 1 cannot go on"):
        launch_data_parallel(fail_on_rank_one, {}, 2)
    assert time.monotonic() - started < 120  # the others would otherwise wait an hour in their collective
