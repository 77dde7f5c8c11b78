"""The training stages: intermediate and target training (one function) and the demo's
pre-training of a tokenizer and a tiny masked LM.

Data-parallel, every rank runs a stage function alike (see runtime.py); rank 0 alone writes the
training log, the checkpoint and removes the resumable state."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import torch

from .features import load_tokenizer, read_features
from .io import read_jsonl, write_json
from .modeling import (MultiTaskModel, build_model, check_fits, check_safetensors, check_weight_files, head_dropout,
                       save_checkpoint)
from .scaling import memory, sharding
from .tasks import task_type
from .tasks.mlm import MaskedLM
from .tasks.tagging import Tagging
from .training import (DevSet, Trainer, TrainTask, data_parallel_world, inputs_identity, is_main_process,
                       made_on_rank_zero, write_log)


def train_task_from(spec: dict, *, tokenizer=None, mlm_probability: float = 0.15) -> TrainTask:
    """spec: name, type, labels, metric, settings, train (parquet, or one per language), dev
    (parquet), dev_examples (jsonl); under `selection: multilingual` dev, dev_examples and
    dev_metrics are dicts by "bench/lang". MLM tasks need the encoder's tokenizer for their mask ids."""
    train = read_train_features(spec["train"])
    if spec["type"] == "mlm":
        kind = MaskedLM.for_tokenizer(tokenizer, mlm_probability)
    else:
        labels = spec.get("labels") or (Tagging.labels_from(train) if spec["type"] == "tagging" else None)
        kind = task_type(spec["type"])(labels)
    task = TrainTask(name=spec["name"], type=kind, train=train, metric=spec["metric"],
                     settings=spec.get("settings", {}), draws=[read_train_features(p) for p in spec.get("train_draws", [])])
    for paths, draw in zip(spec.get("train_draws", []), task.draws):
        if len(draw["input_ids"]) != len(train["input_ids"]):  # an epoch's batches are counted on `train`
            raise ValueError(f"task '{task.name}': the draw {train_files(paths)[0]} has {len(draw['input_ids'])} "
                             f"training rows, its first draw {len(train['input_ids'])}")
    if isinstance(spec.get("dev"), dict):  # selection: multilingual, one set per "bench/lang"
        for key, path in spec["dev"].items():
            features, examples = dev_subset(read_features(path), read_jsonl(spec["dev_examples"][key]),
                                            spec.get("eval_examples"))
            task.dev_sets[key] = DevSet(features, examples, spec["dev_metrics"][key], key.rsplit("/", 1)[-1])
    elif spec.get("dev"):
        task.dev_features = read_features(spec["dev"])
        task.dev_examples = read_jsonl(spec["dev_examples"])
        task.dev_features, task.dev_examples = dev_subset(task.dev_features, task.dev_examples,
                                                          spec.get("eval_examples"))
    return task


def read_train_features(paths: str | Path | list) -> dict[str, list]:
    """One task's training features; translated data and MLM corpora come as one file per language."""
    parts = [read_features(p) for p in train_files(paths)]
    return {key: [value for part in parts for value in part[key]] for key in parts[0]}


def train_files(paths: str | Path | list) -> list:
    return [paths] if isinstance(paths, (str, Path)) else list(paths)


def dev_files(dev: str | Path | dict | None) -> list:
    """A task's dev features: none, the English file, or one per "bench/lang" (selection: multilingual)."""
    if not dev:
        return []
    return list(dev.values()) if isinstance(dev, dict) else [dev]


def dev_subset(features: dict[str, list], examples: list[dict], limit: int | None):
    """The first `limit` dev examples and their feature rows (QA examples may span several rows)."""
    if not limit or limit >= len(examples):
        return features, examples
    if "example_index" in features:
        keep = [i for i, e in enumerate(features["example_index"]) if e < limit]
    else:
        keep = list(range(limit))
    return {k: [v[i] for i in keep] for k, v in features.items()}, examples[:limit]


def train_stage(*, encoder_path: str | Path, tasks: list[dict], hp: dict, seed: int, out_dir: str | Path,
                log_out: str | Path, state_dir: str | Path, device: torch.device, eval_batch_size: int,
                code: str = "", checkpoint_dtype: str = "float32", device_memory_gb: float | None = None,
                jobs_per_device: int = 1) -> dict:
    """Intermediate or target training: encoder from `encoder_path`, a fresh head per task.
    device_memory_gb: the memory the estimate is checked against (default: a GPU's own; none on CPU), of
    which this stage has a `jobs_per_device` share (resources.jobs_per_gpu)."""
    tokenizer = load_tokenizer(encoder_path) if any(spec["type"] == "mlm" for spec in tasks) else None
    train_tasks = [train_task_from(spec, tokenizer=tokenizer, mlm_probability=hp["mlm_probability"])
                   for spec in tasks]
    torch.manual_seed(seed)  # head initialisation
    model = stage_model(encoder_path, train_tasks)
    for task in train_tasks:
        for features in [task.train, *task.draws]:
            check_fits(features, model.encoder.config, f"task '{task.name}'")
    available = device_memory(device, device_memory_gb)
    share = available // jobs_per_device if available is not None else None
    hp = resolve_sharding(model, train_tasks, hp, device, share)
    hp = resolve_micro_batch(model, train_tasks, hp, device, share)
    check_memory(model, train_tasks, hp, device, share, jobs_per_device)
    pad_id = model.encoder.config.pad_token_id
    inputs = [p for p in Path(encoder_path).iterdir() if p.is_file()]
    inputs += [path for spec in tasks for path in train_files(spec["train"]) + dev_files(spec.get("dev"))
               + [p for draw in spec.get("train_draws", []) for p in train_files(draw)]]
    trainer = Trainer(model, train_tasks, hp, seed=seed, device=device, pad_id=pad_id, state_dir=state_dir,
                      eval_batch_size=eval_batch_size, inputs=inputs_identity(inputs, code))
    summary = trainer.run()
    if trainer.sharded:  # the whole weights, gathered on rank 0 into an unsharded model to save
        weights = sharding.full_weights(model)
        if is_main_process():
            model = stage_model(encoder_path, train_tasks)
            model.load_state_dict(weights)
    if hp.get("micro_batch") is not None:  # the micro-batches the effective batch ran in
        summary["micro_batch"] = {"rows": hp["batch_size"], "grad_accum": hp["grad_accum"]}
    # What each task trained on, per language: a multilingual target's translations are all there.
    summary["train_rows"] = {spec["name"]: {Path(path).stem: pq.read_metadata(path).num_rows
                                            for path in train_files(spec["train"])} for spec in tasks}
    if is_main_process():  # rank 0 writes: every rank ends with the same weights and summary
        model.to("cpu")
        write_log(log_out, summary)
        drop_mlm_heads(model)
        dtype = None if checkpoint_dtype == "float32" else getattr(torch, checkpoint_dtype)
        save_checkpoint(model, out_dir, summary, dtype=dtype)
        trainer.clear_state()
    return summary


def stage_memory(model: MultiTaskModel, train_tasks: list[TrainTask], hp: dict,
                 device: torch.device) -> tuple[memory.TrainingMemory, int, int]:
    """The stage's memory estimate per device (xstilts.scaling.memory) at its largest micro-batch:
    (estimate, rows, length)."""
    rows, length = max(memory.micro_batch_shape(task.train, hp["batch_size"]) for task in train_tasks)
    ranks = data_parallel_world()[1]
    estimate = memory.training_memory(memory.Shape.of(model.encoder.config), rows=rows, length=length,
                                      bf16=bool(hp["bf16"]) and device.type == "cuda",
                                      shards=ranks if hp.get("sharding") == "fsdp" else 1,
                                      replicas=1 if hp.get("sharding") == "fsdp" else ranks,
                                      gradient_checkpointing=bool(hp["gradient_checkpointing"]),
                                      attention_matrices=device.type != "cuda", host_is_device=device.type == "cpu",
                                      parameters=sum(p.numel() for p in model.parameters()))
    return estimate, rows, length


def device_memory(device: torch.device, device_memory_gb: float | None) -> int | None:
    """Bytes a stage's estimate is checked against: `device_memory_gb` where given, else a GPU's total."""
    if device_memory_gb:
        return int(device_memory_gb * memory.GIB)
    return torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else None


def resolve_sharding(model: MultiTaskModel, train_tasks: list[TrainTask], hp: dict, device: torch.device,
                     available: int | None) -> dict:
    """hp with `resources.sharding` decided: `auto` shards (FSDP) a data-parallel stage whose unsharded
    estimate exceeds `available` bytes; one rank never shards."""
    choice, ranks = hp.get("sharding", "none"), data_parallel_world()[1]
    if choice == "auto":
        too_big = available is not None and stage_memory(model, train_tasks, {**hp, "sharding": "none"},
                                                          device)[0].peak > available
        choice = "fsdp" if too_big and ranks > 1 else "none"
        if is_main_process():
            print(f"[xstilts] sharding auto: {choice} ({'does not fit' if too_big else 'fits'} one device unsharded, "
                  f"{ranks} rank(s))", file=sys.stderr)
    elif choice == "fsdp" and ranks == 1 and is_main_process():
        print("[xstilts] sharding fsdp: one device, nothing to shard over; trained unsharded", file=sys.stderr)
    return {**hp, "sharding": choice} if "sharding" in hp else hp


def resolve_micro_batch(model: MultiTaskModel, train_tasks: list[TrainTask], hp: dict, device: torch.device,
                        available: int | None) -> dict:
    """hp with `training.micro_batch` applied: the effective batch (batch_size x grad_accum) in
    micro-batches of the given size, or with `auto` of the largest size that `available` bytes hold."""
    choice, effective, ranks = hp.get("micro_batch"), hp["batch_size"] * hp["grad_accum"], data_parallel_world()[1]
    if choice is None:
        return hp
    if choice == "auto":
        if available is None:
            print("[xstilts] micro_batch auto: the device's memory is unknown (no GPU, no resources.device_memory_gb): "
                  f"batch_size {hp['batch_size']} x grad_accum {hp['grad_accum']} as configured", file=sys.stderr)
            return hp
        choice = memory.largest_micro_batch(
            effective, lambda rows: stage_memory(model, train_tasks, {**hp, "batch_size": rows}, device)[0].peak
            <= available, ranks=ranks)
    if effective % choice or (effective // choice) % ranks:
        raise ValueError(f"micro_batch {choice} does not split the effective batch {effective} (batch_size "
                         f"{hp['batch_size']} x grad_accum {hp['grad_accum']}) evenly over {ranks} device(s)")
    if is_main_process():
        print(f"[xstilts] micro_batch {hp['micro_batch']}: the effective batch {effective} in {effective // choice} "
              f"micro-batch(es) of {choice}", file=sys.stderr)
    return {**hp, "batch_size": choice, "grad_accum": effective // choice}


def check_memory(model: MultiTaskModel, train_tasks: list[TrainTask], hp: dict, device: torch.device,
                 available: int | None, jobs_per_device: int = 1) -> None:
    """Print the stage's memory estimate per device and fail before any step when it exceeds the
    `available` bytes (its share of the device where several jobs share one)."""
    estimate, rows, length = stage_memory(model, train_tasks, hp, device)
    if is_main_process():
        print(f"[xstilts] memory: micro-batch {rows} x {length} tokens: {estimate.describe()}", file=sys.stderr)
    if available is not None:
        what = "this training stage" + (f" ({jobs_per_device} jobs per device)" if jobs_per_device > 1 else "")
        memory.check_fits(estimate, available, what=what, rows=hp["batch_size"],
                          grad_accum=hp["grad_accum"], gpus=data_parallel_world()[1],
                          gradient_checkpointing=bool(hp["gradient_checkpointing"]))


def stage_model(encoder_path: str | Path, train_tasks: list[TrainTask]) -> MultiTaskModel:
    """Encoder and fresh task heads; MLM tasks (continued multilingual MLM in an intermediate
    recipe) share the pretrained model's own LM head, tied to the input embeddings."""
    mlm_tasks = [t for t in train_tasks if t.type.name == "mlm"]
    if not mlm_tasks:
        return build_model(encoder_path, {t.name: t.type for t in train_tasks})
    encoder, lm_head = load_masked_lm(encoder_path)
    dropout = head_dropout(encoder)
    heads = {t.name: t.type.make_head(encoder.config.hidden_size, dropout) for t in train_tasks if t not in mlm_tasks}
    model = MultiTaskModel(encoder, heads, {t.name: t.type for t in train_tasks})
    for task in mlm_tasks:
        model.heads[task.name] = lm_head
        # Random replacements must be ids the embeddings have (a tokenizer may add tokens past them).
        task.type.vocab_size = min(task.type.vocab_size, encoder.config.vocab_size)
    return model


def load_masked_lm(path: str | Path):
    """(encoder, LM head) of a pretrained masked-LM folder."""
    masked_lm = masked_lm_with_head(path)
    heads = [module for name, module in masked_lm.named_children() if name != masked_lm.base_model_prefix]
    return masked_lm.base_model, heads[0]


def masked_lm_with_head(path: str | Path):
    """The masked LM of a folder (hub layout), in float32, without remote code; ValueError when the
    folder has no LM-head weights (a fresh head would make continued MLM a different experiment)."""
    from transformers import AutoModelForMaskedLM

    check_weight_files(path)  # a truncated file fails by name
    masked_lm, info = AutoModelForMaskedLM.from_pretrained(
        path, trust_remote_code=False, use_safetensors=True, attn_implementation="sdpa", dtype=torch.float32,
        output_loading_info=True)
    missing = [key for key in info["missing_keys"] if not key.startswith(masked_lm.base_model_prefix)]
    if missing:
        raise ValueError(f"model folder {path} has no masked-LM head weights (missing: {', '.join(missing[:4])}); "
                         "an MLM recipe needs the pretrained LM head: import a model that has one")
    return masked_lm


def drop_mlm_heads(model: MultiTaskModel) -> None:
    """The LM head is the pretrained model's, not a task head: checkpoints keep task heads only."""
    for name in [n for n, t in model.task_types.items() if t.name == "mlm"]:
        del model.heads[name]
        del model.task_types[name]


def pretrain(*, corpus_train: list[str], corpus_dev: list[str], architecture: dict, hp: dict, max_length: int,
             max_positions: int, seed: int, out_dir: str | Path, log_out: str | Path, state_dir: str | Path,
             device: torch.device, eval_batch_size: int, code: str = "") -> dict:
    """Train a tokenizer and a tiny XLM-R-architecture masked LM on the monolingual corpora.
    `max_positions` is the longest sequence any later stage feeds it."""
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    from .tokenizer_training import train_tokenizer

    train_examples = [ex for path in corpus_train for ex in read_jsonl(path)]
    dev_examples = [ex for path in corpus_dev for ex in read_jsonl(path)]
    # One tokenizer for all ranks: their models must share the vocabulary, id for id.
    tokenizer = made_on_rank_zero(
        lambda: train_tokenizer((ex["text"] for ex in train_examples), architecture["vocab_size"], max_positions))
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=architecture["hidden_size"],
        num_hidden_layers=architecture["num_hidden_layers"], num_attention_heads=architecture["num_attention_heads"],
        intermediate_size=architecture["intermediate_size"], max_position_embeddings=max_positions + 2,  # XLM-R positions start after the pad id
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        type_vocab_size=1,
        hidden_dropout_prob=architecture["dropout"], attention_probs_dropout_prob=architecture["dropout"],
    )
    torch.manual_seed(seed)
    mlm = XLMRobertaForMaskedLM(config)
    mlm_type = MaskedLM.for_tokenizer(tokenizer, hp["mlm_probability"])
    settings = {"max_length": max_length}
    task = TrainTask(name="corpus", type=mlm_type, train=mlm_type.featurize(train_examples, tokenizer, settings),
                     dev_features=mlm_type.featurize(dev_examples, tokenizer, settings), dev_examples=dev_examples,
                     metric="mlm_accuracy")
    model = MultiTaskModel(mlm.roberta, {}, {"corpus": mlm_type})
    model.heads["corpus"] = mlm.lm_head  # tied to the input embeddings inside `mlm`
    trainer = Trainer(model, [task], hp, seed=seed, device=device, pad_id=tokenizer.pad_token_id,
                      state_dir=state_dir, eval_batch_size=eval_batch_size,
                      inputs=inputs_identity([*corpus_train, *corpus_dev], code))
    summary = trainer.run()
    if hp.get("micro_batch") is not None:  # the micro-batches the effective batch ran in
        summary["micro_batch"] = {"rows": hp["batch_size"], "grad_accum": hp["grad_accum"]}
    if is_main_process():  # rank 0 writes: every rank ends with the same weights and summary
        mlm.to("cpu")
        write_log(log_out, summary)
        save_pretrained_atomically(mlm, tokenizer, out_dir, summary)
        trainer.clear_state()
    return summary


def import_model(source: str, out_dir: str | Path) -> None:
    """A hub model (id or local folder) as the `pretrained` stage of the workflow: its weights in
    float32 safetensors (encoder, and LM head where it has one) and its fast tokenizer, loaded
    without remote code."""
    check_safetensors(source)  # a pickled-only folder is refused by name, not sent to the hub
    try:
        model, tokenizer = importable_model(source), load_tokenizer(source)
    except OSError as error:
        raise OSError(f"model '{source}' could not be loaded from a local folder or the local hub cache "
                      f"({error}); download it once with network access (e.g. `hf download {source}`) "
                      "or point `hub:` at a local folder") from None
    save_pretrained_atomically(model, tokenizer, out_dir, {"source": source, "steps": 0})


def importable_model(source: str):
    """The masked LM with its LM head where the source has one (MLM recipes continue training it;
    every other stage reads only the encoder), else the bare encoder."""
    from .modeling import load_encoder

    try:
        return masked_lm_with_head(source)
    except ValueError:  # no masked-LM class for the architecture, or no LM-head weights saved
        return load_encoder(source)


def save_pretrained_atomically(model, tokenizer, out_dir: str | Path, summary: dict) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        write_json(staging / "training_summary.json", summary)
        names = sorted(os.listdir(staging), key=lambda n: n == "training_summary.json")
        for name in names:
            os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
