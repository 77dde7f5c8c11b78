"""The training memory estimate (xstilts.scaling.memory): its parameter count, its terms, its check
against the measured peak of the training loop on CPU, and a stage that cannot fit failing before
its first step."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaXLConfig, XLMRobertaXLModel

from helpers import features_file, tiny_pretrained, toy_examples
from xstilts.config import TRAINING_DEFAULTS
from xstilts.features import load_tokenizer
from xstilts.scaling.memory import DoesNotFit, Shape, largest_micro_batch, micro_batch_shape, training_memory
from xstilts.train_stages import train_stage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from memory_estimate import measure  # noqa: E402

LABELS = ["no", "yes"]  # toy_examples' labels
LARGE = Shape(vocab=250002, hidden=1024, layers=24, heads=16, intermediate=4096, positions=514)
# facebook/xlm-roberta-xl and -xxl's configs: 3.5B and 10.7B parameters
XXL_SHAPES = {"xl": Shape(vocab=250880, hidden=2560, layers=36, heads=32, intermediate=10240, positions=514),
              "xxl": Shape(vocab=250880, hidden=4096, layers=48, heads=32, intermediate=16384, positions=514)}


@pytest.mark.parametrize("hidden, layers, intermediate, vocab, xl", [(32, 2, 64, 300, False), (256, 4, 1024, 8000, False),
                                                                     (32, 2, 64, 300, True)])
def test_the_parameter_count_is_the_encoders(hidden, layers, intermediate, vocab, xl):
    """XLM-R and XLM-R XL/XXL (pre-LayerNorm layers, the same count)."""
    config_class, model_class = (XLMRobertaXLConfig, XLMRobertaXLModel) if xl else (XLMRobertaConfig, XLMRobertaModel)
    config = config_class(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
                          intermediate_size=intermediate, max_position_embeddings=130, type_vocab_size=1)
    model = model_class(config, add_pooling_layer=False)
    assert Shape.of(config).parameters() == sum(p.numel() for p in model.parameters())


def test_xlm_r_large_counts_its_published_size_and_needs_about_sixteen_bytes_a_parameter():
    assert 558e6 < LARGE.parameters() < 560e6  # XLM-R Large: 560M with the pooler, which no head uses
    assert 3.4e9 < XXL_SHAPES["xl"].parameters() < 3.5e9 and 10.6e9 < XXL_SHAPES["xxl"].parameters() < 10.8e9
    plain = training_memory(LARGE, rows=32, length=128, bf16=True, attention_matrices=False)
    assert plain.weights + plain.gradients + plain.optimizer == 18 * plain.parameters  # float32 states + bf16 copies


def test_the_estimate_grows_with_the_micro_batch_and_shrinks_with_checkpointing_and_shards():
    base = training_memory(LARGE, rows=8, length=128)
    assert training_memory(LARGE, rows=16, length=128).activations > 1.9 * base.activations
    assert training_memory(LARGE, rows=8, length=256).activations > 2 * base.activations  # length^2 attention
    assert training_memory(LARGE, rows=8, length=128, gradient_checkpointing=True).activations < base.activations / 5
    sharded = training_memory(LARGE, rows=8, length=128, shards=4)
    assert sharded.optimizer == base.optimizer // 4 and sharded.peak < base.peak
    # DDP keeps its gradient buckets beside the gradients: a second float32 copy on every replica
    replicated = training_memory(LARGE, rows=8, length=128, replicas=4)
    assert replicated.gradients == 2 * base.gradients and "DDP's gradient buckets" in replicated.describe()
    assert training_memory(LARGE, rows=8, length=128, shards=4, replicas=4).gradients == sharded.gradients


def test_a_micro_batch_of_multiple_choice_runs_every_choice():
    assert micro_batch_shape({"input_ids": [[1, 2, 3], [4, 5]]}, 8) == (8, 3)
    assert micro_batch_shape({"input_ids": [[[1, 2], [3, 4, 5]], [[6], [7]]]}, 8) == (16, 3)


@pytest.mark.slow
@pytest.mark.parametrize("shape, rows, length, checkpointing", [((256, 4, 4, 1024, 8000), 16, 128, False),
                                                                ((384, 3, 6, 1536, 20000), 32, 64, True)])
def test_the_estimate_is_within_a_quarter_of_the_measured_peak_on_cpu(shape, rows, length, checkpointing):
    """Two sizes, one with gradient checkpointing (benchmarks/memory_estimate.py prints more)."""
    found = measure(shape, rows=rows, length=length, gradient_checkpointing=checkpointing)
    assert found["parameters"] == found["counted"]
    assert 0.75 <= found["estimate"] / found["measured"] <= 1.25, found


def test_a_stage_that_cannot_fit_fails_before_any_step_naming_the_estimate_and_what_to_change(tmp_path):
    pretrained = tiny_pretrained(tmp_path / "tiny")
    tokenizer = load_tokenizer(pretrained)
    train = features_file(tmp_path / "train.parquet", "classification", LABELS, toy_examples(64, 0), tokenizer)
    spec = {"name": "toy", "type": "classification", "labels": LABELS, "metric": "accuracy", "train": train}
    hp = {**TRAINING_DEFAULTS, "batch_size": 16, "grad_accum": 2, "epochs": 1}
    run = dict(encoder_path=pretrained, tasks=[spec], hp=hp, seed=1, out_dir=tmp_path / "out",
               log_out=tmp_path / "log.jsonl", state_dir=tmp_path / "state", device=torch.device("cpu"),
               eval_batch_size=8)
    with pytest.raises(DoesNotFit) as failed:
        train_stage(**run, device_memory_gb=1e-4)
    message = str(failed.value)
    assert "this training stage does not fit its device" in message and "estimated peak" in message
    assert "batch_size 16 -> 8 with grad_accum 2 -> 4" in message and "gradient_checkpointing: true" in message
    assert "resources.gpus_per_job" in message
    assert not (tmp_path / "state").exists() and not (tmp_path / "out").exists() and not (tmp_path / "log.jsonl").exists()
    summary = train_stage(**run, device_memory_gb=64)  # the same stage with room trains
    assert summary["tasks"] == ["toy"] and (tmp_path / "out" / "training_summary.json").exists()


# ---------------------------------------------------------------------------- training.micro_batch
def test_the_largest_micro_batch_that_fits_divides_the_effective_batch_evenly_over_the_devices():
    assert largest_micro_batch(32, lambda rows: rows <= 12) == 8
    assert largest_micro_batch(32, lambda rows: rows <= 16, ranks=2) == 16
    assert largest_micro_batch(32, lambda rows: rows <= 20, ranks=4) == 8  # 16 would leave 2 micro-batches for 4 devices
    assert largest_micro_batch(24, lambda rows: True) == 24
    with pytest.raises(DoesNotFit, match="no micro-batch of an effective batch of 32 fits the device, not even one row"):
        largest_micro_batch(32, lambda rows: False)


def test_a_micro_batch_that_does_not_divide_the_effective_batch_is_refused_by_the_plan():
    import yaml

    from workflow_runs import TINY
    from xstilts.config import ConfigError, Plan

    config = yaml.safe_load(TINY.read_text())
    config["training"]["target"] = {**config["training"].get("target", {}), "micro_batch": 5}
    with pytest.raises(ConfigError, match=r"training.micro_batch: 5 does not divide the effective batch of the target "
                                          r"stage 'mnli' of tiny \(batch_size \d+ x grad_accum \d+ = \d+\)"):
        Plan(config)
    config["training"]["target"]["micro_batch"] = "auto"
    assert Plan(config).result_settings("target", "tiny", "mnli")["micro_batch"] == "auto"
    assert "micro_batch" not in Plan(config).result_settings("pretrain", "tiny"), "pre-training splits no batch"


@pytest.fixture
def toy_stage(tmp_path):
    pretrained = tiny_pretrained(tmp_path / "tiny")
    train = features_file(tmp_path / "train.parquet", "classification", LABELS, toy_examples(64, 0),
                          load_tokenizer(pretrained))
    spec = {"name": "toy", "type": "classification", "labels": LABELS, "metric": "accuracy", "train": train}

    def run(name: str, device_memory_gb=None, jobs_per_device=1, **hp):
        return train_stage(encoder_path=pretrained, tasks=[spec], seed=1, out_dir=tmp_path / name / "out",
                           hp={**TRAINING_DEFAULTS, "batch_size": 4, "grad_accum": 8, "epochs": 1, **hp},
                           log_out=tmp_path / name / "log.jsonl", state_dir=tmp_path / name / "state",
                           device=torch.device("cpu"), eval_batch_size=8, device_memory_gb=device_memory_gb,
                           jobs_per_device=jobs_per_device)
    return run


def test_micro_batch_auto_runs_the_effective_batch_in_the_largest_micro_batch_the_memory_holds(toy_stage, tmp_path):
    from xstilts.features import read_features
    from xstilts.modeling import build_model
    from xstilts.scaling import memory
    from xstilts.tasks import task_type

    # memory that holds a micro-batch of 8 rows and not one of 16, by the estimate at the toy rows' length
    model = build_model(tmp_path / "tiny", {"toy": task_type("classification")(LABELS)})
    length = memory.micro_batch_shape(read_features(tmp_path / "train.parquet"), 1)[1]
    needs = {rows: memory.training_memory(memory.Shape.of(model.encoder.config), rows=rows, length=length,
                                          host_is_device=True, parameters=sum(p.numel() for p in model.parameters())).peak
             for rows in (8, 16)}
    between = (needs[8] + needs[16]) / 2 / memory.GIB
    summary = toy_stage("auto", device_memory_gb=between, micro_batch="auto")
    assert summary["micro_batch"] == {"rows": 8, "grad_accum": 4}
    assert toy_stage("roomy", device_memory_gb=64, micro_batch="auto")["micro_batch"] == {"rows": 32, "grad_accum": 1}
    # with four jobs on the device, each has a quarter of it (resources.jobs_per_gpu)
    shared = toy_stage("shared", device_memory_gb=4 * between, jobs_per_device=4, micro_batch="auto")
    assert shared["micro_batch"] == {"rows": 8, "grad_accum": 4}
    assert toy_stage("given", micro_batch=16)["micro_batch"] == {"rows": 16, "grad_accum": 2}
    # on the CPU, with no memory given, as configured
    assert toy_stage("unknown", micro_batch="auto")["micro_batch"] == {"rows": 4, "grad_accum": 8}
    assert "micro_batch" not in toy_stage("plain")


def test_micro_batch_auto_refuses_a_stage_no_micro_batch_of_which_fits_before_any_step(toy_stage, tmp_path):
    with pytest.raises(DoesNotFit, match="not even one row"):
        toy_stage("tiny_device", device_memory_gb=1e-5, micro_batch="auto")
    assert not (tmp_path / "tiny_device").exists()


def test_a_stage_whose_share_of_a_shared_device_cannot_hold_it_fails_before_any_step(toy_stage, tmp_path):
    """resources.jobs_per_gpu K: each training job has 1/K of the device's memory."""
    assert toy_stage("alone", device_memory_gb=0.05)["tasks"] == ["toy"]
    with pytest.raises(DoesNotFit, match=r"this training stage \(1000 jobs per device\) does not fit its device"):
        toy_stage("crowded", device_memory_gb=0.05, jobs_per_device=1000)
    assert not (tmp_path / "crowded").exists()
