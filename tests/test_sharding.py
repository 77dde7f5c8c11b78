"""Sharded data-parallel training (resources.sharding fsdp): two gloo ranks on the CPU with FSDP reach the
weights one process reaches on the same batches, resume exactly after a kill from their sharded state,
and their checkpoint (gathered on rank 0, sharded safetensors where large) reloads to the same predictions.

The functions named `*_on_rank` run inside the workers, which import this module by name."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from xstilts import train_stages, training
from xstilts.config import TRAINING_DEFAULTS
from xstilts.features import load_tokenizer
from xstilts.features import read_features
from xstilts.inference import evaluate_split
from xstilts.io import write_jsonl
from xstilts.modeling import build_model, load_checkpoint, save_checkpoint
from xstilts.runtime import DataParallelError, launch_data_parallel
from xstilts.scaling import sharding
from xstilts.tasks import task_type
from xstilts.training import Trainer, TrainTask, data_parallel_world

from helpers import NLI_LABELS, features_file, mnli_with_mlm_tasks, nli_examples, tiny_pretrained, toy_examples

LABELS = ["no", "yes"]
# Effective batch 16: 4 micro-batches of 4 on one process, 2 on each of two ranks (so gradient sync is
# skipped on the first micro-step of every step).
HP = {**TRAINING_DEFAULTS, "lr": 3e-3, "batch_size": 4, "grad_accum": 4, "epochs": 2, "eval_every": 6,
      "save_every": 4, "log_every": 2, "patience": 100, "sharding": "fsdp"}
SEED = 3


@pytest.fixture(autouse=True)
def cpu_workers(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv("XSTILTS_CLAIMED_DEVICES", raising=False)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A tiny XLM-R without dropout (ranks draw their own dropout, which one process cannot repeat), and
    a separable toy task."""
    pretrained = tiny_pretrained(tmp_path_factory.mktemp("tiny"), layers=3)
    config = json.loads((pretrained / "config.json").read_text())
    (pretrained / "config.json").write_text(json.dumps({**config, "hidden_dropout_prob": 0.0,
                                                        "attention_probs_dropout_prob": 0.0, "classifier_dropout": 0.0}))
    tokenizer = load_tokenizer(pretrained)
    kind = task_type("classification")(LABELS)
    dev = toy_examples(64, 1)
    return {"pretrained": pretrained, "train": kind.featurize(toy_examples(128, 0), tokenizer, {"max_length": 32}),
            "dev_features": kind.featurize(dev, tokenizer, {"max_length": 32}), "dev": dev}


def toy_trainer(device, toy, state_dir, hp=HP):
    kind = task_type("classification")(LABELS)
    torch.manual_seed(0)
    model = build_model(toy["pretrained"], {"toy": kind})
    task = TrainTask("toy", kind, toy["train"], toy["dev_features"], toy["dev"], metric="accuracy")
    return model, Trainer(model, [task], hp, seed=SEED, device=device, pad_id=load_tokenizer(toy["pretrained"]).pad_token_id,
                          state_dir=state_dir, progress=False)


def train_toy_on_rank(device, *, toy, state_dir, crash_at_step=None, hp=HP):
    """One rank's training; its summary and the whole weights it ended with (gathered)."""
    model, trainer = toy_trainer(device, toy, state_dir, hp)
    if crash_at_step:
        select = trainer.evaluate_and_select

        def crash_after_state_saved(s):
            if s["step"] >= crash_at_step:
                raise RuntimeError("simulated kill")
            return select(s)

        trainer.evaluate_and_select = crash_after_state_saved
    summary = trainer.run()
    weights = sharding.full_weights(model) if trainer.sharded else model.state_dict()
    shapes = {name: list(p.to_local().shape) for name, p in model.named_parameters()} if trainer.sharded else {}
    return {"rank": data_parallel_world()[0], "summary": summary, "sharded": trainer.sharded, "local_shapes": shapes,
            "weights": None if weights is None else {k: v.detach().clone() for k, v in weights.items()}}


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    """The toy task: FSDP on two ranks, and one process."""
    with pytest.MonkeyPatch.context() as env:  # module scope: the autouse fixture has not run yet
        env.setenv("CUDA_VISIBLE_DEVICES", "")
        fsdp = launch_data_parallel(train_toy_on_rank, {"toy": toy, "state_dir": tmp_path_factory.mktemp("fsdp")}, 2)
    model, trainer = toy_trainer(torch.device("cpu"), toy, tmp_path_factory.mktemp("single"))
    single = trainer.run()
    return {"fsdp": fsdp, "single": {"summary": single, "weights": model.state_dict()}}


def assert_close(first: dict, second: dict, atol: float) -> None:
    assert first.keys() == second.keys()
    for name, value in first.items():
        assert torch.allclose(value, second[name], atol=atol), (name, (value - second[name]).abs().max().item())


def test_two_sharded_ranks_reach_the_weights_of_one_process(trained, toy):
    fsdp, single = trained["fsdp"], trained["single"]
    assert [r["sharded"] for r in fsdp] == [True, True] and fsdp[1]["weights"] is None, "gathered on rank 0 only"
    # each rank held half of every layer's weights
    word = "encoder.embeddings.word_embeddings.weight"
    full = list(single["weights"][word].shape)
    assert fsdp[0]["local_shapes"][word] == [full[0] // 2, full[1]], fsdp[0]["local_shapes"][word]
    assert_close(fsdp[0]["weights"], single["weights"], atol=2e-5)
    initial = build_model(toy["pretrained"], {"toy": task_type("classification")(LABELS)}).state_dict()
    assert not torch.allclose(single["weights"][word], initial[word]), "the weights were trained"
    assert fsdp[0]["summary"]["best_step"] == single["summary"]["best_step"]
    assert fsdp[0]["summary"]["best_dev_score"] == single["summary"]["best_dev_score"] > 50.0
    # the ranks logged the same (rank 0's dev scores), and the dev scores of one process
    assert fsdp[0]["summary"]["log"] == fsdp[1]["summary"]["log"]
    assert ([line["dev_score"] for line in fsdp[0]["summary"]["log"] if "dev_score" in line]
            == [line["dev_score"] for line in single["summary"]["log"] if "dev_score" in line])


def test_a_killed_sharded_run_resumes_to_the_same_weights_and_a_cut_short_save_is_ignored(trained, toy, tmp_path):
    state_dir = tmp_path / "state"
    with pytest.raises(DataParallelError, match="simulated kill"):
        launch_data_parallel(train_toy_on_rank, {"toy": toy, "state_dir": state_dir, "crash_at_step": 12}, 2)
    state = torch.load(state_dir / "state.pt", weights_only=False)
    assert state["step"] == 8, "saved every 4 steps; killed in step 12's evaluation"
    assert "model" not in state and "optimizer" not in state and state["best_state"] is None and state["has_best"]
    assert [p.name for p in sharding.saved_folders(state_dir)] == [state["shards"]], "earlier saves removed"
    assert len(list((state_dir / state["shards"]).glob("*.distcp"))) == 2, "a shard file per rank"
    cut_short = tmp_path / "cut-short"  # the same state whose shards lack their metadata: a save cut short
    shutil.copytree(state_dir, cut_short)
    (cut_short / state["shards"] / ".metadata").unlink()
    resumed = launch_data_parallel(train_toy_on_rank, {"toy": toy, "state_dir": state_dir}, 2)
    log = resumed[0]["summary"]["log"]
    assert any(line.get("resumed_at_step") == state["step"] for line in log), log
    assert resumed[0]["summary"]["best_dev_score"] == trained["fsdp"][0]["summary"]["best_dev_score"]
    assert_close(resumed[0]["weights"], trained["fsdp"][0]["weights"], atol=1e-6)
    again = launch_data_parallel(train_toy_on_rank, {"toy": toy, "state_dir": cut_short}, 2)
    assert not any("resumed_at_step" in line for line in again[0]["summary"]["log"]), "trained from step 0"
    assert_close(again[0]["weights"], trained["fsdp"][0]["weights"], atol=1e-6)


# ---------------------------------------------------------------- a sharded training stage's checkpoint


def predictions_on_rank(device, **kwargs):
    return train_stages.train_stage(device=device, **kwargs)


def test_a_sharded_stage_writes_a_checkpoint_that_reloads_to_the_same_predictions(toy, tmp_path):
    pretrained = toy["pretrained"]
    tokenizer = load_tokenizer(pretrained)
    write_jsonl(tmp_path / "dev.jsonl", nli_examples("d", 12))
    dev = features_file(tmp_path / "dev.parquet", "classification", NLI_LABELS, nli_examples("d", 12), tokenizer)
    tasks = [{"name": "mnli", "type": "classification", "labels": NLI_LABELS, "metric": "accuracy", "settings": {},
              "train": [features_file(tmp_path / "train.parquet", "classification", NLI_LABELS, nli_examples("t", 32), tokenizer)],
              "dev": dev, "dev_examples": str(tmp_path / "dev.jsonl")}]
    hp = {**HP, "batch_size": 4, "grad_accum": 2, "epochs": 1, "eval_every": 2, "save_every": 1}
    kwargs = {"encoder_path": pretrained, "tasks": tasks, "hp": hp, "seed": 1, "out_dir": tmp_path / "sharded",
              "log_out": tmp_path / "log.jsonl", "state_dir": tmp_path / "state", "eval_batch_size": 8}
    summaries = launch_data_parallel(predictions_on_rank, kwargs, 2)
    assert summaries[0]["hyperparameters"]["sharding"] == "fsdp" and not (tmp_path / "state").exists()
    reloaded = load_checkpoint(tmp_path / "sharded")

    def scored(model):
        return evaluate_split(model, "mnli", task_type("classification")(NLI_LABELS), read_features(dev),
                              nli_examples("d", 12), metric="accuracy", lang="en", settings={},
                              pad_id=tokenizer.pad_token_id, batch_size=8, device=torch.device("cpu"))

    predictions, metrics = scored(reloaded)
    assert metrics["score"] == summaries[0]["best_dev_score"], "the checkpoint holds the selected weights"
    # sharded safetensors with their index, read back to the same predictions
    save_checkpoint(reloaded, tmp_path / "shards", {"steps": 1}, max_shard_size="20KB")
    assert (tmp_path / "shards" / "model.safetensors.index.json").exists()
    assert len(list((tmp_path / "shards").glob("model-*-of-*.safetensors"))) > 1
    assert not (tmp_path / "shards" / "model.safetensors").exists()
    assert scored(load_checkpoint(tmp_path / "shards")) == (predictions, metrics)


def test_adversarial_training_is_refused_sharded(toy, tmp_path, monkeypatch):
    monkeypatch.setattr(training, "data_parallel_world", lambda: (0, 2))  # a rank of two
    with pytest.raises(ValueError, match="does not run sharded yet"):
        toy_trainer(torch.device("cpu"), toy, tmp_path, {**HP, "adversarial": {"method": "freelb", "eps": 0.1}})
    assert toy_trainer(torch.device("cpu"), toy, tmp_path)[1].sharded


def test_a_multi_task_recipe_trains_sharded_as_replicated(toy, tmp_path):
    """MNLI with continued MLM: a head unused in a step and the MLM head tied to the embeddings. Sharded
    and replicated (DDP) on two ranks draw the same dropout and masks, so they end with the same weights."""
    pretrained = tiny_pretrained(tmp_path / "tiny")  # with dropout, and the pretrained LM head
    tasks = mnli_with_mlm_tasks(pretrained, tmp_path)
    # One batch per rank and step: some steps run MLM on both ranks, and leave the MNLI head alone.
    hp = {**TRAINING_DEFAULTS, "lr": 1e-3, "batch_size": 8, "grad_accum": 2, "epochs": 2, "eval_every": 4,
          "save_every": 1, "patience": 100}
    for name, sharded in (("fsdp", "fsdp"), ("ddp", "none")):
        launch_data_parallel(predictions_on_rank, {
            "encoder_path": pretrained, "tasks": tasks, "hp": {**hp, "sharding": sharded}, "seed": 1,
            "out_dir": tmp_path / name, "log_out": tmp_path / f"{name}.jsonl", "state_dir": tmp_path / f"{name}-state",
            "eval_batch_size": 16}, 2)
    fsdp, ddp = (load_checkpoint(tmp_path / name).state_dict() for name in ("fsdp", "ddp"))
    assert_close(fsdp, ddp, atol=2e-5)
    initial = build_model(pretrained, {}).state_dict()
    word = "encoder.embeddings.word_embeddings.weight"
    assert not torch.allclose(fsdp[word], initial[word]), "trained"


def test_sharding_auto_shards_where_one_device_cannot_hold_the_stage(toy, monkeypatch, capsys):
    kind = task_type("classification")(LABELS)
    model = build_model(toy["pretrained"], {"toy": kind})
    tasks = [TrainTask("toy", kind, toy["train"])]
    hp = {**HP, "sharding": "auto"}
    device = torch.device("cpu")
    monkeypatch.setattr(train_stages, "data_parallel_world", lambda: (0, 4))
    unsharded = train_stages.stage_memory(model, tasks, {**hp, "sharding": "none"}, device)[0].peak
    sharded = train_stages.stage_memory(model, tasks, {**hp, "sharding": "fsdp"}, device)[0].peak
    assert sharded < unsharded, "the estimate divides the states over the ranks"
    assert train_stages.resolve_sharding(model, tasks, hp, device, unsharded)["sharding"] == "none"
    assert train_stages.resolve_sharding(model, tasks, hp, device, unsharded - 1)["sharding"] == "fsdp"
    assert train_stages.resolve_sharding(model, tasks, hp, device, None)["sharding"] == "none", "memory unknown"
    assert "sharding auto: fsdp (does not fit one device unsharded, 4 rank(s))" in capsys.readouterr().err
    monkeypatch.setattr(train_stages, "data_parallel_world", lambda: (0, 1))
    assert train_stages.resolve_sharding(model, tasks, hp, device, 1)["sharding"] == "none", "one rank"
